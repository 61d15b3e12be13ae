"""MiniCLIP feature tokenizers (``clip`` patch features, ``clip_global`` embeddings): training recipes,
the round trip features → ids → features, the bundle entry, and the k-means stand-in."""

import numpy as np
import pytest
import torch

from omnimask.config import ConfigError
from omnimask.data.labelers.registry import load_labeler
from omnimask.data.synthworld import SynthWorldConfig, render_sample
from omnimask.tokenizers.bundle import load_tokenizers, save_tokenizers
from omnimask.tokenizers.entries import CardMapTokenizer, FeatureKMeansTokenizer
from omnimask.training.tokenizers.features import compute_features, feature_metrics
from omnimask.training.tokenizers.loop import train_tokenizer
from omnimask.training.tokenizers.recipes import tokenizer_recipe


@pytest.fixture(scope="module")
def rgb() -> np.ndarray:
    return np.stack([render_sample(3, i, SynthWorldConfig(resolution=32))["rgb"] for i in range(6)])


@pytest.fixture(scope="module")
def labeler():
    return load_labeler("miniclip")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    """Both tiny recipes, 4 steps each, on 40 rendered 32x32 scenes (rendered once, cached)."""
    root = tmp_path_factory.mktemp("clip")
    out = {}
    for kind in ("clip", "clip_global"):
        cfg = tokenizer_recipe("tiny", kind)
        cfg.data.cache = str(root / "cache")
        out[kind] = train_tokenizer(cfg, root / kind, progress=False), root / kind / "tokenizer"
    return out


@pytest.mark.parametrize("kind", ["clip", "clip_global"])
def test_tiny_recipe_trains_and_reports_feature_metrics(trained, kind):
    result, _ = trained[kind]
    val = result["val"]
    assert result["steps"] == 4 and val["samples"] >= 1
    assert -1.0 <= val["cosine"] <= 1.0 and 0 < val["codebook_usage"] <= 1
    assert ("r1_recon" in val) == (kind == "clip_global")


def test_clip_card_round_trips_patch_features(trained, rgb, labeler):
    tok = CardMapTokenizer.load(trained["clip"][1], "clip")
    feats = labeler.patch_features(rgb).numpy()
    assert feats.shape == (6, 8, 8, 64)
    ids = tok.tokenize(feats)
    assert ids.shape == (6, 64) and ids.dtype == torch.int64 and int(ids.max()) < tok.vocab_size == 16
    back = tok.detokenize(ids, (8, 8))
    assert back.shape == feats.shape and back.dtype == np.float32


def test_clip_global_card_round_trips_embeddings_and_saves_in_float16(trained, rgb, labeler, tmp_path):
    tok = CardMapTokenizer.load(trained["clip_global"][1], "clip_global", dtype="float16")
    emb = labeler.global_embedding(rgb).numpy()
    ids = tok.tokenize(emb)
    assert ids.shape == (6, 4) and int(ids.max()) < 16
    back = tok.detokenize(ids)  # no grid: a vector tokenizer (what the evaluation's decode calls)
    assert back.shape == (6, 64) and back.dtype == np.float32
    save_tokenizers({"tok_clip_global": tok}, tmp_path)
    again = load_tokenizers(tmp_path)["tok_clip_global"]
    assert torch.equal(again.tokenize(emb), ids)  # float16 storage does not move these codes
    with pytest.raises(ValueError, match=r"\(B, 64\)"):
        tok.tokenize(emb[:, :32])


def test_feature_recipes_refuse_flips():
    cfg = tokenizer_recipe("synth64", "clip")
    assert cfg.model is not None and cfg.model.patch_size == 1 and cfg.threads == 1
    with pytest.raises(ConfigError, match="flip"):
        type(cfg)(modality="clip", model=cfg.model, input=cfg.input)


def test_feature_metrics_exact_values():
    true = np.eye(4, dtype=np.float32)
    recon = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 1]], np.float32)
    m = feature_metrics(recon, true, torch.from_numpy(true))
    assert m["cosine"] == pytest.approx(0.75) and m["rel_mse"] == pytest.approx(0.5)
    assert m["r1_true"] == 1.0 and m["r1_recon"] == 0.75  # scene 2 now ranks scene 3's caption first


def test_feature_kmeans_stand_in_round_trips(rgb, labeler):
    patch = compute_features("clip", rgb, labeler)
    emb = compute_features("clip_global", rgb, labeler)
    maps = FeatureKMeansTokenizer.fit("clip", patch, 8)
    assert maps.tokenize(patch).shape == (6, 64) and maps.detokenize(maps.tokenize(patch)).shape == patch.shape
    vecs = FeatureKMeansTokenizer.fit("clip_global", emb, 8, num_tokens=4)
    ids = vecs.tokenize(emb)
    assert ids.shape == (6, 4)
    codebook = vecs.tokenizer.codebook  # (8, 16): each 16-d quarter of an embedding is one code
    np.testing.assert_allclose(vecs.detokenize(ids)[:, 16:32], codebook[ids[:, 1]].numpy())
