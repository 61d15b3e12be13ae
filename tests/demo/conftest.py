"""A tiny random SynthWorld model folder (16 px, k-means tokenizers, WordPiece text, a global
embedding modality) for the demo tests, built once per session."""

from __future__ import annotations

import pytest
import torch

from omnimask.data.synth_tokens import fit_synth_tokenizer, render_range
from omnimask.data.synthworld import SynthWorldConfig
from omnimask.modalities import ModalitySpec
from omnimask.model import FourM, config_for_specs

RES = 16


def tiny_specs(text_vocab: int) -> dict[str, ModalitySpec]:
    """rgb@16 pixels; RGB, depth and semantic tokens on a 2×2 grid; caption, det, metadata; a global modality."""
    def grid(name: str, tokenizer: str, vocab: int) -> ModalitySpec:
        return ModalitySpec(name=name, kind="image_tokens", vocab_size=vocab, num_tokens=4, grid=(2, 2), patch_size=8,
                            tokenizer=tokenizer)

    def seq(name: str, n: int) -> ModalitySpec:
        return ModalitySpec(name=name, kind="sequence", vocab_size=text_vocab, num_tokens=n, max_length=n)

    specs = [
        ModalitySpec(name=f"rgb@{RES}", kind="pixels", num_tokens=4, grid=(2, 2), patch_size=8),
        grid(f"tok_rgb@{RES}", "rgb", 16), grid(f"tok_depth@{RES}", "depth", 16),
        grid(f"tok_semseg@{RES}", "semseg", 16),
        seq("caption", 12), seq("det", 12), seq("metadata", 10),
        ModalitySpec(name="tok_clip_global", kind="global_tokens", vocab_size=8, num_tokens=2),
    ]
    return {s.name: s for s in specs}


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    """A model folder: model.safetensors + config.json + tokenizers/ (no tokenizer for the global modality)."""
    folder = tmp_path_factory.mktemp("demo_model")
    samples = render_range(0, 0, 8, SynthWorldConfig(resolution=RES))
    specs = tiny_specs(4400)
    fitted = fit_synth_tokenizer({n: s for n, s in specs.items() if s.kind != "global_tokens"}, samples)
    torch.manual_seed(0)
    model = FourM(config_for_specs(specs, size=None, dim=32, encoder_depth=1, decoder_depth=1, num_heads=2))
    model.save_pretrained(folder)
    fitted.save(folder / "tokenizers")
    return folder
