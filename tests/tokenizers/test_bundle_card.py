"""Card-driven map tokenizers in a bundle: raw maps ↔ ids, float16 storage, manifest entries, SampleTokenizer."""

import json

import numpy as np
import pytest
import torch

from omnimask.data.tokenize import SampleTokenizer
from omnimask.modalities import synthworld_modalities
from omnimask.tokenizers.base import ModalityTokenizer
from omnimask.tokenizers.bundle import load_tokenizers, save_tokenizers, shipped_bundle_path
from omnimask.tokenizers.entries import CardMapTokenizer
from omnimask.training.tokenizers.recipes import synth_config


def tiny_tokenizer(kind: str, seed: int = 0) -> ModalityTokenizer:
    cfg = synth_config(kind, resolution=16, encoder=(16, 1), decoder=(16, 1), codebook=16, latent_dim=4)
    torch.manual_seed(seed)
    return ModalityTokenizer.create(cfg.model, name=kind, modality=kind, input=cfg.input, output=cfg.output).eval()


def maps(kind: str, n: int = 3) -> np.ndarray:
    g = np.random.default_rng(0)
    if kind == "depth":
        return (g.random((n, 16, 16)) * 10).astype(np.float32)
    if kind == "semseg":
        return g.integers(0, 9, (n, 16, 16)).astype(np.uint8)
    if kind == "edges":
        return g.random((n, 16, 16)) > 0.8
    if kind == "normal":
        v = g.normal(size=(n, 16, 16, 3)).astype(np.float32)
        return v / np.linalg.norm(v, axis=-1, keepdims=True)
    return g.integers(0, 256, (n, 16, 16, 3)).astype(np.uint8)


@pytest.mark.parametrize("kind", ["rgb", "depth", "normal", "semseg", "edges"])
def test_card_map_tokenizer_round_trips_raw_formats(kind):
    tok = CardMapTokenizer(kind, tiny_tokenizer(kind), batch_size=2)
    raw = maps(kind)
    ids = tok.tokenize(list(raw))  # a list of samples, as SampleTokenizer passes them; 3 maps in batches of 2
    assert ids.shape == (3, 4) and ids.dtype == torch.long and int(ids.max()) < tok.vocab_size
    assert torch.equal(ids, tok.tokenize(raw))
    back = tok.detokenize(ids)
    assert back.shape == raw.shape and back.dtype == raw.dtype
    assert tok.detokenize(ids[:, :1], grid=(1, 1)).shape[1:3] == (8, 8)


def test_bundle_stores_card_entries_in_float16_and_loads_float32(tmp_path):
    depth = tiny_tokenizer("depth")
    bundle = {"tok_depth@16": CardMapTokenizer("depth", depth, dtype="float16"),
              "tok_depth_copy@16": CardMapTokenizer("depth", depth, dtype="float16")}  # fmt: skip
    save_tokenizers(bundle, tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["tok_depth@16"] == {"type": "card", "map": "depth", "path": "depth", "dtype": "float16"}
    loaded = load_tokenizers(tmp_path)
    assert loaded["tok_depth@16"] is loaded["tok_depth_copy@16"]  # one model per folder
    state = loaded["tok_depth@16"].tokenizer.model.state_dict()
    for name, value in depth.model.state_dict().items():
        expected = value.half().float() if value.is_floating_point() else value
        assert state[name].dtype == expected.dtype and torch.equal(state[name], expected), name
    with pytest.raises(ValueError, match="storage dtype"):
        CardMapTokenizer("depth", depth, dtype="int8")


def test_synth_tokenizer_loads_a_card_bundle(tmp_path):
    specs = {n: s for n, s in synthworld_modalities(resolution=16, patch=8).items()
             if n in ("rgb@16", "tok_depth@16", "tok_semseg@16")}  # fmt: skip
    save_tokenizers({"tok_depth@16": CardMapTokenizer("depth", tiny_tokenizer("depth")),
                     "tok_semseg@16": CardMapTokenizer("semseg", tiny_tokenizer("semseg"))}, tmp_path)  # fmt: skip
    synth = SampleTokenizer.load(tmp_path, specs)
    sample = {"rgb": maps("rgb", 1)[0], "depth": maps("depth", 1)[0], "semseg": maps("semseg", 1)[0]}
    out = synth(sample)
    assert out["tok_depth@16"].shape == (4,) and out["tok_semseg@16"].shape == (4,)
    assert out["rgb@16"].dtype == np.uint8


def test_shipped_bundle_path_names_what_is_shipped():
    with pytest.raises(FileNotFoundError, match="shipped"):
        shipped_bundle_path("no_such_bundle")
