"""MiniCLIP: the shipped checkpoint behind the labeler protocol, checkpoints and retrieval (training:
tests/training/test_miniclip_training.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from omnimask.data.labelers import (
    FeatureLabeler,
    LabelerInputError,
    MiniClip,
    MiniClipConfig,
    TextAlignedLabeler,
    WordVocab,
    load_miniclip,
    save_miniclip,
)
from omnimask.training.miniclip import HELDOUT_START, render_pairs, retrieval_recall

TINY = MiniClipConfig(width=32, image_depth=1, text_depth=1, num_heads=2, embed_dim=16, vocab_size=8)


@pytest.fixture(scope="module")
def shipped():
    return load_miniclip()


@pytest.fixture(scope="module")
def fresh_scenes():
    """20 scenes MiniCLIP never saw (beyond its training and evaluation ranges), one caption each."""
    return render_pairs(0, range(HELDOUT_START + 10_000, HELDOUT_START + 10_020), 1)


def test_shipped_labeler_has_the_protocol_shapes_and_dtypes(shipped):
    assert isinstance(shipped, FeatureLabeler) and isinstance(shipped, TextAlignedLabeler)
    assert (shipped.name, shipped.feature_dim, shipped.embedding_dim) == ("miniclip", 64, 64)
    rgb = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    feats, emb = shipped.features(rgb)
    assert feats.shape == (3, 8, 8, 64) and feats.dtype == torch.float32
    assert emb.shape == (3, 64) and emb.dtype == torch.float32
    torch.testing.assert_close(emb.norm(dim=-1), torch.ones(3))
    assert torch.equal(shipped.patch_features(rgb), feats)
    assert torch.equal(shipped.global_embedding(torch.from_numpy(rgb)), emb)
    text = shipped.encode_text(["A red cube.", "Two blue spheres on a tiled floor."])
    assert text.shape == (2, 64) and text.dtype == torch.float32
    torch.testing.assert_close(text.norm(dim=-1), torch.ones(2))
    assert shipped.encode_text([]).shape == (0, 64)


def test_other_resolutions_resize_the_image_or_the_position_table(shipped):
    rgb = np.random.default_rng(1).integers(0, 256, (2, 128, 128, 3), dtype=np.uint8)
    assert shipped.patch_features(rgb).shape == (2, 8, 8, 64)  # default: image resized to 64
    native = load_miniclip(input_mode="native")
    assert native.patch_features(rgb).shape == (2, 16, 16, 64)
    assert native.patch_features(rgb[:, :96, :72]).shape == (2, 12, 9, 64)
    assert native.grid(224, 224) == (28, 28) and shipped.grid(224, 224) == (8, 8)
    small = rgb[:, :64, :64]
    assert torch.equal(native.patch_features(small), shipped.patch_features(small))  # 64 px: both identity
    with pytest.raises(LabelerInputError, match="divisible by the patch size 8"):
        native.patch_features(rgb[:, :60, :64])


def test_bad_inputs_are_clear_errors(shipped):
    with pytest.raises(LabelerInputError, match="uint8"):
        shipped.patch_features(np.zeros((1, 64, 64, 3), np.float32))
    with pytest.raises(LabelerInputError, match=r"rgb\[None\]"):
        shipped.global_embedding(np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(LabelerInputError, match="list of caption strings"):
        shipped.encode_text("a red cube")


def test_chunked_extraction_matches_one_batch(shipped):
    rgb = np.random.default_rng(2).integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)
    chunked = load_miniclip(batch_size=2)
    whole_maps, whole_emb = shipped.features(rgb)
    maps, emb = chunked.features(rgb)
    torch.testing.assert_close(maps, whole_maps, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(emb, whole_emb, atol=1e-5, rtol=1e-5)


def test_shipped_checkpoint_retrieves_fresh_scenes_far_above_chance(shipped, fresh_scenes):
    rgb, captions = fresh_scenes
    scores = retrieval_recall(shipped.global_embedding(rgb), shipped.encode_text([c[0] for c in captions]), pool=20)
    # chance among 20: R@1 = 0.05, R@5 = 0.25; the shipped weights measure R@1 0.80 / 0.85 (text->image /
    # image->text) and R@5 1.0 here, 0.80-0.95 and 1.0 on two other sets of 20 fresh scenes
    assert scores["text_to_image_r@1"] >= 0.5 and scores["image_to_text_r@1"] >= 0.5
    assert scores["text_to_image_r@5"] >= 0.8 and scores["image_to_text_r@5"] >= 0.8


def test_init_is_a_function_of_the_seed():
    a, b = MiniClip(TINY).state_dict(), MiniClip(TINY).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    other = MiniClip(MiniClipConfig(**{**TINY.__dict__, "init_seed": 1})).state_dict()
    assert not torch.equal(a["patch_embed.weight"], other["patch_embed.weight"])


def test_checkpoint_round_trip(tmp_path):
    model, vocab = MiniClip(TINY).eval(), WordVocab(["[PAD]", "[UNK]", "a", "b", "c", "d", "e", "f"])
    save_miniclip(model, vocab, tmp_path, metrics={"text_to_image_r@1": 0.5})
    loaded = load_miniclip(tmp_path)
    rgb = np.random.default_rng(3).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    with torch.inference_mode():
        expected = model.embed_image_tokens(model.image_grid_tokens(model.normalize_pixels(torch.from_numpy(rgb))))
    assert torch.equal(loaded.global_embedding(rgb), expected)
    assert loaded.vocab.words == vocab.words
    with pytest.raises(ValueError, match="vocab_size"):
        save_miniclip(model, WordVocab(["[PAD]", "[UNK]"]), tmp_path / "bad")
    with pytest.raises(FileNotFoundError, match="train-miniclip"):
        load_miniclip(tmp_path / "missing")
