"""The SynthWorld tokenizers shipped in the package: present, small, loadable, and good on unseen scenes.

Bounds sit a margin below what the shipped bundle measures on these 8 scenes (PSNR 25.5 dB, δ1 0.994,
2.5° mean angular error, mIoU 0.910, edge F1 0.822; MiniCLIP patch-feature cosine 0.966, global
embedding cosine 0.989 with caption R@1 1.0 among the 8, as with the true embeddings).
"""

import json

import numpy as np
import pytest

from omnimask.data.labelers.registry import load_labeler
from omnimask.data.synthworld import SynthWorldConfig, render_sample
from omnimask.data.tokenize import SampleTokenizer, sample_features
from omnimask.evaluation.metrics.retrieval import RetrievalMetric
from omnimask.metrics import MapMetrics
from omnimask.modalities import synthworld_modalities
from omnimask.tokenizers.bundle import load_tokenizers, shipped_bundle_path
from omnimask.tokenizers.entries import CardMapTokenizer, SequenceTokenizer
from omnimask.training.tokenizers.features import feature_metrics

#: Scenes far beyond the ones the tokenizers were trained on (the training folder has 6000).
SCENES = range(900_000, 900_008)
#: Cosine bounds of the MiniCLIP feature tokenizers' reconstructions (measured 0.966 and 0.989).
CLIP_BOUND, GLOBAL_BOUND = 0.94, 0.97


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
            grid = specs[name].grid or (1, specs[name].num_tokens)  # a global modality: its tokens in a row
            assert tok.tokenizer.card.grid() == grid and tok.vocab_size <= specs[name].vocab_size <= 1024
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
    out = SampleTokenizer.load(shipped_bundle_path(), specs).batch(scenes[:2])
    assert out[0]["tok_depth@64"].shape == (64,) and out[0]["rgb@64"].dtype == np.uint8
    assert all(len(chunk) for chunk in out[0]["caption"])


@pytest.fixture(scope="module")
def features(scenes):
    return sample_features(scenes)


@pytest.mark.parametrize(("name", "kind", "bound"), [("tok_clip@64", "clip", CLIP_BOUND),
                                                     ("tok_clip_global", "clip_global", GLOBAL_BOUND)])  # fmt: skip
def test_shipped_clip_tokenizers_keep_miniclip_features_of_unseen_scenes(bundle, features, name, kind, bound):
    tok, raw = bundle[name], features[kind]
    recon = tok.detokenize(tok.tokenize(raw), (8, 8) if kind == "clip" else None)
    assert recon.shape == raw.shape and recon.dtype == np.float32
    assert feature_metrics(recon, raw)["cosine"] >= bound


def test_decoded_global_tokens_keep_caption_retrieval(bundle, features, scenes):
    """The evaluation's path: per-scene embeddings → tokenize → detokenize (no grid) → RetrievalMetric."""
    tok = bundle["tok_clip_global"]
    ids = tok.tokenize(np.stack(list(features["clip_global"])))
    assert ids.shape == (len(scenes), 4)
    decoded = list(tok.detokenize(ids))
    text = load_labeler("miniclip").encode_text([s["caption"] for s in scenes]).numpy()
    recalls = []
    for image in (list(features["clip_global"]), decoded):
        metric = RetrievalMetric(ks=(1,), pool=100)
        metric.update(list(zip(image, text)))
        recalls.append(metric.compute()["r@1"])
    assert recalls[1] >= recalls[0] - 0.125, recalls  # at most one of the 8 scenes lost
