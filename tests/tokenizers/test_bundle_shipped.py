"""The SynthWorld tokenizers shipped in the package: present, small, loadable, and good on unseen scenes.

Bounds sit a margin below what the shipped bundle measures on these 8 scenes (PSNR 25.5 dB, δ1 0.994,
2.5° mean angular error, mIoU 0.910, edge F1 0.822).
"""

import json

import numpy as np
import pytest

from omnimask.data.synth_tokens import SynthTokenizer
from omnimask.data.synthworld import SynthWorldConfig, render_sample
from omnimask.modalities import synthworld_modalities
from omnimask.tokenizers.bundle import CardMapTokenizer, SequenceTokenizer, load_tokenizers, shipped_bundle_path
from omnimask.tokenizers.training.metrics import MapMetrics

#: Scenes far beyond the ones the tokenizers were trained on (the training folder has 6000).
SCENES = range(900_000, 900_008)


@pytest.fixture(scope="module")
def bundle():
    return load_tokenizers(shipped_bundle_path("synthworld64"))


@pytest.fixture(scope="module")
def scenes():
    return [render_sample(0, i, SynthWorldConfig(resolution=64)) for i in SCENES]


def test_bundle_covers_every_synthworld_modality_and_is_small(bundle):
    path = shipped_bundle_path()
    specs = synthworld_modalities(resolution=64)
    assert set(bundle) == {n for n, s in specs.items() if s.is_discrete}
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    assert size < 8 * 2**20, f"the shipped bundle grew to {size / 2**20:.1f} MB"
    manifest = json.loads((path / "manifest.json").read_text())
    assert {e["dtype"] for e in manifest.values() if e["type"] == "card"} == {"float16"}
    for name, tok in bundle.items():
        if isinstance(tok, CardMapTokenizer):
            assert tok.tokenizer.card.grid() == specs[name].grid and tok.vocab_size <= 1024
        else:
            assert isinstance(tok, SequenceTokenizer) and tok.vocab_size <= specs[name].vocab_size


@pytest.mark.parametrize(("kind", "metric", "bound"), [
    ("rgb", "psnr", 23.0), ("depth", "delta1", 0.95), ("normal", "angular_error_deg", -10.0),
    ("semseg", "miou", 0.85), ("edges", "f1", 0.7),
])  # fmt: skip
def test_shipped_tokenizers_reconstruct_unseen_scenes(bundle, scenes, kind, metric, bound):
    tok = bundle[f"tok_{kind}@64"]
    raw = np.stack([s[kind] for s in scenes])
    recon = tok.detokenize(tok.tokenize(raw))
    assert recon.shape == raw.shape and recon.dtype == raw.dtype
    metrics = MapMetrics(kind, num_classes=9)
    metrics.update(recon, raw)
    value = metrics.compute()[metric]
    assert value >= bound if bound > 0 else value <= -bound, f"{kind} {metric} = {value:.3f}"


def test_training_pipeline_tokenizes_scenes_with_the_shipped_bundle(scenes):
    specs = synthworld_modalities(resolution=64)
    out = SynthTokenizer.load(shipped_bundle_path(), specs).batch(scenes[:2])
    assert out[0]["tok_depth@64"].shape == (64,) and out[0]["rgb@64"].dtype == np.uint8
    assert all(len(chunk) for chunk in out[0]["caption"])
