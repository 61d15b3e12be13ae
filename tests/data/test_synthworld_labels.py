"""SynthWorld's labels agree with its maps: boxes, classes, visibility, edges and captions."""

import re

import numpy as np
import pytest

from omnimask.data.synthworld import SynthWorldConfig, render_sample, render_scene
from omnimask.data.synthworld.caption import caption
from omnimask.data.synthworld.config import COLORS, FLOOR, SHAPE_IDS, SHAPE_PLURALS, SHAPES, SKY, WALL
from omnimask.data.synthworld.scene import Wall, make_object, make_scene

CFG = SynthWorldConfig(resolution=32)
SAMPLES = [render_sample(3, i, CFG) for i in range(8)]


def _hidden_sphere_scene():
    """A big red cube straight in front of a small blue sphere: the sphere is fully occluded."""
    cube = make_object("cube", "red", "matte", 0.0, 1.0, 0.0, (0.6,))
    sphere = make_object("sphere", "blue", "shiny", 0.0, -1.0, 0.0, (0.3,))
    wall = Wall(normal=(0.0, 0.0, 1.0), offset=3.0, height=3.0, color=(0.5, 0.5, 0.5))
    return make_scene([cube, sphere], eye=(0.0, 0.6, 6.0), target=(0.0, 0.6, 0.0), wall=wall)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s["key"])
def test_boxes_agree_with_instance_and_semantic_maps(sample):
    instance, semseg = sample["instance"], sample["semseg"]
    h, w = instance.shape
    objects = sample["scene"]["objects"]
    listed = {d["instance"] for d in sample["det"]}
    for d in sample["det"]:
        rows, cols = np.nonzero(instance == d["instance"])
        assert d["box"] == [cols.min() / w, rows.min() / h, (cols.max() + 1) / w, (rows.max() + 1) / h]
        assert d["pixels"] == len(rows)
        assert (semseg[rows, cols] == SHAPE_IDS[d["class"]]).all()
        obj = objects[d["instance"] - 1]
        assert (d["class"], d["colour"], d["material"]) == (obj["shape"], obj["color"], obj["material"])
        assert 0 < d["visible_fraction"] <= 1
    for k in range(1, len(objects) + 1):
        if k not in listed:
            assert (instance == k).sum() < CFG.min_visible_pixels()
    assert np.isin(semseg[instance == 0], [SKY, FLOOR, WALL]).all()
    assert ((semseg == SKY) == (sample["depth"] == 0)).all()


def test_occluded_object_is_neither_detected_nor_captioned():
    scene = _hidden_sphere_scene()
    for i in range(12):  # many paraphrases
        out = render_scene(scene, CFG, np.random.default_rng(i), np.random.default_rng(i))
        assert [d["class"] for d in out["det"]] == ["cube"]
        assert (out["instance"] == 2).sum() == 0
        assert "sphere" not in out["caption"] and "blue" not in out["caption"]
        assert "cube" in out["caption"] and "red" in out["caption"]
        assert out["det"][0]["visible_fraction"] == 1.0


def test_partially_hidden_object_has_its_visible_fraction():
    cube = make_object("cube", "red", "matte", -0.35, 1.0, 0.0, (0.5,))
    sphere = make_object("sphere", "blue", "shiny", 0.35, -1.0, 0.0, (0.5,))
    scene = make_scene([cube, sphere], eye=(0.0, 0.5, 6.0), target=(0.0, 0.5, 0.0))
    out = render_scene(scene, CFG, np.random.default_rng(0), np.random.default_rng(0))
    alone = make_scene([sphere], eye=(0.0, 0.5, 6.0), target=(0.0, 0.5, 0.0))
    footprint = (render_scene(alone, CFG, np.random.default_rng(0), np.random.default_rng(0))["instance"] == 1).sum()
    sphere_det = next(d for d in out["det"] if d["class"] == "sphere")
    assert 0 < sphere_det["visible_fraction"] < 1
    assert sphere_det["visible_fraction"] == round(sphere_det["pixels"] / footprint, 4)


def test_captions_name_only_visible_colours_and_shapes():
    words_of = {s: {s, SHAPE_PLURALS[s]} for s in SHAPES}
    for sample in SAMPLES:
        words = set(re.findall(r"[a-z]+", sample["caption"].lower()))
        seen_shapes = {d["class"] for d in sample["det"]}
        seen_colours = {d["colour"] for d in sample["det"]}
        for shape, forms in words_of.items():
            assert bool(words & forms) == (shape in seen_shapes), (shape, sample["caption"])
        for colour in COLORS:
            assert (colour in words) == (colour in seen_colours), (colour, sample["caption"])


def test_caption_relations_follow_the_image():
    left = make_object("sphere", "red", "matte", -1.2, 0.0, 0.0, (0.4,))
    right = make_object("cube", "blue", "matte", 1.2, -2.0, 0.0, (0.4,))  # right and farther away
    scene = make_scene([left, right], eye=(0.0, 1.5, 6.0), target=(0.0, 0.3, -1.0))
    out = render_scene(scene, CFG, np.random.default_rng(0), np.random.default_rng(0))
    allowed = {
        "The red sphere is to the left of the blue cube.", "The red sphere is left of the blue cube.",
        "To the left of the blue cube is the red sphere.", "The blue cube is to the right of the red sphere.",
        "The blue cube is right of the red sphere.", "To the right of the red sphere is the blue cube.",
        "The red sphere is in front of the blue cube.", "The red sphere is closer to the camera than the blue cube.",
        "The blue cube is behind the red sphere.", "Behind the red sphere stands the blue cube.",
    }  # fmt: skip
    seen = set()
    for i in range(40):
        text = caption(scene, out["det"], False, np.random.default_rng(i))
        sentences = [s.strip() + "." for s in text.split(".") if s.strip()]
        assert "red sphere" in sentences[0] and "blue cube" in sentences[0]
        assert set(sentences[1:]) <= allowed, text
        seen |= set(sentences[1:])
    assert len(seen) >= 4  # several paraphrases and both relation kinds occur


def test_counts_group_identical_objects():
    objs = [make_object("cone", "green", "matte", x, 0.0, 0.0, (0.3, 0.8)) for x in (-1.0, 0.0, 1.0)]
    scene = make_scene(objs, eye=(0.0, 1.5, 5.0), target=(0.0, 0.4, 0.0))
    out = render_scene(scene, CFG, np.random.default_rng(0), np.random.default_rng(0))
    texts = {caption(scene, out["det"], False, np.random.default_rng(i)) for i in range(20)}
    assert all("three" in t.lower() and "green cones" in t for t in texts)
    assert not any("The green cone" in t for t in texts)  # ambiguous names are never used in relations


def test_edges_outline_an_object_in_front_of_a_wall():
    sphere = make_object("sphere", "red", "matte", 0.0, 0.0, 0.0, (0.7,))
    wall = Wall(normal=(0.0, 0.0, 1.0), offset=2.0, height=5.0, color=(0.5, 0.5, 0.5))
    scene = make_scene([sphere], eye=(0.0, 0.7, 5.0), target=(0.0, 0.7, 0.0), wall=wall)
    out = render_scene(scene, CFG, np.random.default_rng(0), np.random.default_rng(0))
    sem, inst, edges = out["semseg"], out["instance"] == 1, out["edges"]
    next_to_wall = np.zeros_like(inst)
    for shift in (1, -1):
        for axis in (0, 1):
            next_to_wall |= np.roll(sem == WALL, shift, axis=axis)  # the sphere is far from the border
    assert (inst & next_to_wall).sum() > 10
    assert edges[inst & next_to_wall].all()  # the occluder's side of every sphere/wall boundary
    assert not edges[sem == WALL].any()  # the farther side is never marked
    assert out["metadata"]["occlusion_score"] == pytest.approx(edges.mean())
