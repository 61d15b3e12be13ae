"""Tokenizer bundles: raw values ↔ ids for maps and structured sequences, saved and loaded with a model."""

import json
import resource

import numpy as np
import pytest
import torch

from omnimask.tokenizers.bundle import ENTRY_TYPES, load_tokenizers, save_tokenizers
from omnimask.tokenizers.entries import CardMapTokenizer, FeatureKMeansTokenizer, MapTokenizer, SequenceTokenizer
from omnimask.tokenizers.kmeans import KMeansPatchTokenizer
from omnimask.tokenizers.text import train_text_tokenizer


@pytest.fixture(scope="module")
def text():
    corpus = ["a red cube left of a blue sphere", "two green cones near a wall"] * 20
    return train_text_tokenizer(corpus, 4400, class_names=["cube", "sphere", "cone"])


def _seg_tokenizer():
    # two 4x4 patterns of 3 classes: class 0 everywhere, class 2 everywhere
    feats = torch.zeros(2, 3, 4, 4)
    feats[0, 0] = 1
    feats[1, 2] = 1
    return MapTokenizer("semseg", KMeansPatchTokenizer.fit(feats, 4, 2, seed=0), num_classes=3)


def test_map_tokenizer_round_trips_raw_maps():
    tok = _seg_tokenizer()
    seg = np.zeros((1, 8, 8), np.uint8)
    seg[0, :4, 4:] = 2
    ids = tok.tokenize(seg)
    assert ids.shape == (1, 4)
    np.testing.assert_array_equal(tok.detokenize(ids), seg)


def test_sequence_tokenizers_round_trip_structured_values(text):
    det = [{"class": "cube", "box": [0.1, 0.2, 0.5, 0.6]}, {"class": "sphere", "box": [0.6, 0.1, 0.9, 0.4]}]
    back = SequenceTokenizer("det", text).detokenize(SequenceTokenizer("det", text).tokenize([det]))[0]
    assert [b["class"] for b in back] == ["cube", "sphere"]
    np.testing.assert_allclose(back[0]["box"], det[0]["box"], atol=1e-3)
    caption = SequenceTokenizer("caption", text)
    assert caption.detokenize(caption.tokenize(["a red cube left of a blue sphere"])) == [
        "a red cube left of a blue sphere"
    ]
    ids = caption.tokenize(["a red cube"])[0]
    past = [ids[0], caption.vocab_size, ids[1], caption.vocab_size + 7, *ids[2:]]  # a wider model head's ids
    assert caption.detokenize([past]) == ["a red cube"]
    palette = SequenceTokenizer("color_palette", text)
    assert palette.detokenize(palette.tokenize([{"colors": [[255, 0, 0], [0, 0, 255]]}])) == [
        [[255, 0, 0], [0, 0, 255]]
    ]
    meta = SequenceTokenizer("metadata", text)
    assert len(meta.chunks({"brightness": 100.0, "contrast": 20.0})) == 2


def test_bundle_save_load_shares_the_text_vocabulary(tmp_path, text):
    bundle = {"tok_semseg@8": _seg_tokenizer(), "caption": SequenceTokenizer("caption", text),
              "det": SequenceTokenizer("det", text)}
    save_tokenizers(bundle, tmp_path / "model" / "tokenizers")
    loaded = load_tokenizers(tmp_path / "model")
    assert loaded["caption"].text is loaded["det"].text
    seg = np.full((1, 8, 8), 2, np.uint8)
    assert torch.equal(loaded["tok_semseg@8"].tokenize(seg), bundle["tok_semseg@8"].tokenize(seg))
    assert loaded["caption"].tokenize(["two green cones"]) == bundle["caption"].tokenize(["two green cones"])


def test_missing_bundle_and_unknown_modality_are_clear_errors(tmp_path, text):
    with pytest.raises(FileNotFoundError, match="no tokenizer bundle"):
        load_tokenizers(tmp_path)
    with pytest.raises(KeyError, match="no text serialiser"):
        SequenceTokenizer("sound", text)


def _entry_cases(text):
    """Case name -> (tokenizer, raw batch), covering every entry type of the bundle table."""
    from test_bundle_card import maps, tiny_tokenizer

    g = np.random.default_rng(0)
    patch_features = g.standard_normal((6, 4, 4, 3)).astype(np.float32)
    vectors = g.standard_normal((6, 8)).astype(np.float32)
    seg = np.zeros((2, 8, 8), np.uint8)
    seg[1, :4] = 2
    return {
        "map": (_seg_tokenizer(), seg),
        "feature_kmeans": (FeatureKMeansTokenizer.fit("clip", patch_features, 5), patch_features[:2]),
        "feature_kmeans_global": (FeatureKMeansTokenizer.fit("clip_global", vectors, 5, num_tokens=2), vectors[:2]),
        "card": (CardMapTokenizer("depth", tiny_tokenizer("depth")), maps("depth", 2)),
        "caption": (SequenceTokenizer("caption", text), ["a red cube", "two green cones near a wall"]),
    }


CASES = ["map", "feature_kmeans", "feature_kmeans_global", "card", "caption"]  # a text entry's name is its modality


def test_the_round_trip_cases_cover_every_entry_type(text):
    cases = _entry_cases(text)
    assert set(cases) == set(CASES)
    assert {type(tok) for tok, _ in cases.values()} == set(ENTRY_TYPES.values())


@pytest.mark.parametrize("entry", CASES)
def test_every_entry_type_survives_save_and_load(tmp_path, text, entry):
    tok, raw = _entry_cases(text)[entry]
    save_tokenizers({entry: tok}, tmp_path)
    loaded = load_tokenizers(tmp_path)[entry]
    assert type(loaded) is type(tok) and loaded.vocab_size == tok.vocab_size
    ids = tok.tokenize(raw)
    again = loaded.tokenize(raw)
    if isinstance(ids, torch.Tensor):
        assert torch.equal(again, ids)
        np.testing.assert_array_equal(loaded.detokenize(ids), tok.detokenize(ids))
    else:
        assert again == ids and loaded.detokenize(ids) == tok.detokenize(ids)


def test_a_hostile_tokenizer_card_is_refused_from_the_header_without_allocating(tmp_path):
    from test_bundle_card import tiny_tokenizer

    save_tokenizers({"depth": CardMapTokenizer("depth", tiny_tokenizer("depth"))}, tmp_path / "model" / "tokenizers")
    card_file = tmp_path / "model" / "tokenizers" / "depth" / "config.json"
    card = json.loads(card_file.read_text())
    card["model"]["encoder"]["dim"] = 4096  # built for real: ~800 MB of encoder, then a size-mismatch crash
    card_file.write_text(json.dumps(card))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ValueError, match=r"does not describe .*model.safetensors .*encoder\.\S+ \(16,?\) in the "
                                         r"weights, \(4096,?\) by the config"):
        load_tokenizers(tmp_path / "model")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB: under 200 MB more
