"""Conditions from raw inputs, partial conditions (in-/out-painting) and editing helpers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from omnimask.generation import Plan, Sampler, Step
from omnimask.generation.conditions import (
    Conditioner,
    changed_pixels,
    inpaint,
    move_box,
    partial,
    replace_class,
    resize_box,
    tokens_keep_from_pixels,
    with_metadata,
)
from omnimask.tokenizers.text.special import EOS_ID


def image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (20, 24, 3), dtype=np.uint8)


def test_raw_conditions_through_tokenizers(bundle, tmp_path, text_tokenizer):
    model, toks = bundle
    from PIL import Image

    Image.fromarray(image()).save(tmp_path / "photo.png")
    seg = np.zeros((16, 16), np.int64)
    seg[:8, 8:] = 2
    boxes = [{"class": "cube", "box": [0.1, 0.2, 0.5, 0.6]}]
    state = Conditioner(model.specs, toks)({"rgb@16": tmp_path / "photo.png", "tok_semseg@16": seg,
                                           "caption": "a red cube", "det": boxes})
    rgb = state["rgb@16"]
    assert rgb.tensor.shape == (1, 3, 16, 16) and rgb.input_keep.all() and not rgb.target_keep.any()
    assert abs(float(rgb.tensor.mean())) < 3  # ImageNet-normalised, not raw bytes
    np.testing.assert_array_equal(toks["tok_semseg@16"].detokenize(state["tok_semseg@16"].tensor)[0], seg)
    cap = state["caption"]
    ids = text_tokenizer.encode("a red cube")
    assert cap.tensor[0].tolist() == [*ids, EOS_ID] and cap.input_keep.all()
    assert state["det"].tensor[0, -1].item() == EOS_ID
    ids_direct = Conditioner(model.specs)({"tok_semseg@16": torch.tensor([1, 1, 0, 2])})
    assert ids_direct["tok_semseg@16"].tensor.tolist() == [[1, 1, 0, 2]]


def test_raw_condition_errors(bundle):
    model, toks = bundle
    with pytest.raises(ValueError, match="unknown modality"):
        Conditioner(model.specs, toks)({"depth": 1})
    with pytest.raises(ValueError, match="needs a tokenizer"):
        Conditioner(model.specs)({"caption": "a cube"})
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        Conditioner(model.specs)({"tok_semseg@16": torch.tensor([1, 1, 0, 7])})
    with pytest.raises(ValueError, match="exceed"):
        Conditioner(model.specs, toks)({"caption": "a red cube " * 5})


def test_pixel_mask_to_token_mask(bundle):
    model, _ = bundle
    spec = model.specs["tok_semseg@16"]
    known = np.ones((16, 16), bool)
    known[3, 12] = False  # one unknown pixel in the top-right patch
    assert tokens_keep_from_pixels(known, spec).tolist() == [[True, False, True, True]]
    small = np.ones((4, 4), bool)
    small[3, 0] = False  # resized to 16x16: the bottom-left patch is unknown
    assert tokens_keep_from_pixels(small, spec).tolist() == [[True, True, False, True]]


def test_inpainting_and_outpainting_keep_the_known_tokens(bundle):
    model, toks = bundle
    seg = np.zeros((16, 16), np.int64)
    seg[8:, :] = 1
    cond = Conditioner(model.specs, toks)({"tok_semseg@16": seg, "caption": "a cube"})
    known = np.zeros((16, 16), bool)
    known[:, :8] = True  # left half known: out-paint the right half
    state = {**cond, "tok_semseg@16": inpaint(cond["tok_semseg@16"], model.specs["tok_semseg@16"], known)}
    assert state["tok_semseg@16"].target_keep.tolist() == [[False, True, False, True]]
    plan = Plan((Step(target="tok_semseg@16", scheme="maskgit", num_steps=2, temperature=1.0),))
    for seed in range(3):
        out = Sampler(model).generate(state, plan, seed=seed).state["tok_semseg@16"]
        assert out.tensor[0, [0, 2]].tolist() == cond["tok_semseg@16"].tensor[0, [0, 2]].tolist()
        assert out.input_keep.all()
    flipped = partial(cond["tok_semseg@16"], torch.tensor([False, True, False, True]))
    assert flipped.input_keep.tolist() == [[False, True, False, True]]


def test_box_editing():
    boxes = [{"class": "cube", "box": [0.1, 0.2, 0.3, 0.4]}, {"class": "cone", "box": [0.5, 0.5, 0.9, 0.9]}]
    moved = move_box(boxes, 0, dx=0.2, dy=-0.3)
    assert moved[0]["box"] == pytest.approx([0.3, 0.0, 0.5, 0.1]) and boxes[0]["box"] == [0.1, 0.2, 0.3, 0.4]
    assert moved[1] == boxes[1]
    assert resize_box(boxes, 1, 0.5)[1]["box"] == pytest.approx([0.6, 0.6, 0.8, 0.8])
    assert resize_box(boxes, 1, 3.0)[1]["box"] == pytest.approx([0.1, 0.1, 1.0, 1.0])  # clamped to the image


def test_box_edit_changes_regenerated_tokens(bundle):
    model, toks = bundle
    boxes = [{"class": "cube", "box": [0.1, 0.1, 0.4, 0.4]}]
    plan = Plan((Step(target="tok_semseg@16", scheme="roar", num_steps=1, temperature=0.0),))
    runs = []
    for b in (boxes, move_box(boxes, 0, dx=0.5, dy=0.5)):
        cond = Conditioner(model.specs, toks)({"det": b})
        runs.append(Sampler(model, diagnostics=True).generate(cond, plan).records[0].candidate_margins)
    assert not torch.allclose(runs[0], runs[1])


def test_class_replacement_and_changed_region():
    seg = np.array([[0, 1], [2, 1]])
    edited = replace_class(seg, 1, 2)
    assert edited.tolist() == [[0, 2], [2, 2]] and seg.tolist() == [[0, 1], [2, 1]]
    assert changed_pixels(seg, edited).tolist() == [[False, True], [False, True]]
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb2 = rgb.copy()
    rgb2[1, 0, 2] = 9
    assert changed_pixels(rgb, rgb2).tolist() == [[False, False], [True, False]]


def test_metadata_steering():
    raw = {"caption": "a cube", "metadata": {"brightness": 0.2}}
    steered = with_metadata(raw, brightness=0.8, colorfulness=0.5)
    assert steered["metadata"] == {"brightness": 0.8, "colorfulness": 0.5}
    assert raw["metadata"] == {"brightness": 0.2}


def test_sampler_refuses_raw_conditions(bundle):
    model, _ = bundle
    plan = Plan((Step(target="tok_semseg@16", scheme="roar", num_steps=2, temperature=1.0),))
    with pytest.raises(TypeError, match="raw values; tokenize them first"):
        Sampler(model).generate({"caption": "a red cube"}, plan, seed=4)


def test_batched_conditions_equal_one_by_one(bundle):
    model, toks = bundle
    conditioner = Conditioner(model.specs, toks)
    rgbs, captions = [image(3)[:16, :16], image(4)[:16, :16]], ["a red cube", "a blue cone and a cube"]
    both = conditioner.batch({"rgb@16": rgbs, "caption": captions})
    for b in range(2):
        one = conditioner({"rgb@16": rgbs[b], "caption": captions[b]})
        assert torch.equal(both["rgb@16"].tensor[b], one["rgb@16"].tensor[0])
        n = int(one["caption"].input_keep[0].sum())
        assert both["caption"].tensor[b, :n].tolist() == one["caption"].tensor[0, :n].tolist()
    with pytest.raises(ValueError, match="same number of values"):
        conditioner.batch({"rgb@16": rgbs, "caption": captions[:1]})


def test_overlong_sequences_raise_or_are_cut_keeping_eos(bundle):
    model, toks = bundle
    conditioner = Conditioner(model.specs, toks)
    long = "a red cube " * 5
    with pytest.raises(ValueError, match="exceed the modality"):
        conditioner({"caption": long})
    cut = conditioner({"caption": long}, truncate=True)["caption"]
    n = model.specs["caption"].num_tokens
    assert cut.tensor.shape == (1, n) and cut.tensor[0, -1].item() == EOS_ID and cut.input_keep.all()
