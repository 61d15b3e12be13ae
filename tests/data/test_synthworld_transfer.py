"""SynthWorld transfer labels are exact: each checked against hand-placed scenes or an independent count."""

import math

import numpy as np
import pytest

from omnimask.config import ConfigError
from omnimask.data.synthworld import SynthWorldConfig, render_sample, render_scene
from omnimask.data.synthworld.config import FLOOR, SKY, WALL
from omnimask.data.synthworld.scene import Wall, make_object, make_scene
from omnimask.data.synthworld.transfer import (
    COLOR_CLASSES,
    TRANSFER_TASKS,
    height,
    largest_color,
    light_direction,
    object_count,
    occlusion_order,
    transfer_labels,
)

RES = 48


def _render(scene, res=RES):
    rng = np.random.default_rng(0)
    return render_scene(scene, SynthWorldConfig(resolution=res, noise_std=0.0), rng, rng)


def _two_objects():
    near = make_object("sphere", "red", "matte", 0.0, 1.0, 0.0, (0.7,))  # big, close to the camera
    far = make_object("cube", "blue", "matte", 1.2, -1.5, 0.3, (0.3,))
    return near, far, make_scene([near, far], eye=(0.0, 2.0, 6.0), target=(0.3, 0.4, -0.5))


def test_object_count_and_largest_color_on_a_hand_placed_scene():
    _, _, scene = _two_objects()
    out = _render(scene)
    assert int(object_count(out)) == 2
    assert COLOR_CLASSES[int(largest_color(out))] == "red"
    empty = _render(make_scene([], eye=(0.0, 2.0, 6.0), target=(0.0, 0.0, 0.0)))
    assert int(object_count(empty)) == 0 and COLOR_CLASSES[int(largest_color(empty))] == "none"


def test_object_count_equals_an_independent_pixel_count():
    cfg = SynthWorldConfig(resolution=RES)
    for index in range(12):
        s = render_sample(3, index, cfg)
        ids, counts = np.unique(s["instance"], return_counts=True)
        visible = int(((ids > 0) & (counts >= cfg.min_visible_pixels())).sum())
        assert int(object_count(s)) == visible


def test_light_direction_is_the_world_light_seen_from_the_camera():
    light = np.array([1.0, 2.0, 0.5]) / np.linalg.norm([1.0, 2.0, 0.5])
    ball = [make_object("sphere", "green", "matte", 0.0, 0.0, 0.0, (0.5,))]
    # Looking down world -z from +z at eye height: camera axes = world axes.
    front = _render(make_scene(ball, eye=(0.0, 0.5, 5.0), target=(0.0, 0.5, 0.0), light_direction=tuple(light)))
    np.testing.assert_allclose(light_direction(front), light, atol=1e-6)
    # From +x looking toward -x: world +x points back at the camera (camera z), world -z is the camera's right.
    side = _render(make_scene(ball, eye=(5.0, 0.5, 0.0), target=(0.0, 0.5, 0.0), light_direction=(1.0, 0.0, -1.0)))
    np.testing.assert_allclose(light_direction(side), [math.sqrt(0.5), 0.0, math.sqrt(0.5)], atol=1e-6)


def test_occlusion_order_ranks_objects_by_distance():
    _, _, scene = _two_objects()
    out = _render(scene)
    order = occlusion_order(out)
    assert order.shape == (RES, RES) and order.dtype == np.uint8
    np.testing.assert_array_equal(order == 1, out["instance"] == 1)  # the sphere is nearer
    np.testing.assert_array_equal(order == 2, out["instance"] == 2)
    np.testing.assert_array_equal(order == 0, out["instance"] == 0)


def test_height_is_zero_on_the_floor_and_tops_out_at_the_object_top():
    radius = 0.6
    ball = make_object("sphere", "red", "matte", 0.0, 0.0, 0.0, (radius,))
    wall = Wall(normal=(0.0, 0.0, 1.0), offset=3.0, height=1.5, color=(0.5, 0.5, 0.5))
    out = _render(make_scene([ball], eye=(0.0, 3.0, 5.0), target=(0.0, 0.4, 0.0), wall=wall), res=64)
    h = height(out)
    assert h.shape == (64, 64) and h.dtype == np.float32
    assert np.abs(h[out["semseg"] == FLOOR]).max() < 1e-4
    assert (h[out["semseg"] == SKY] == 0).all()
    on_wall = h[out["semseg"] == WALL]
    assert on_wall.size and on_wall.min() > -1e-4 and on_wall.max() <= 1.5 + 1e-4
    on_ball = h[out["instance"] == 1]
    assert on_ball.min() > 0 and on_ball.max() <= 2 * radius + 1e-4 and on_ball.max() > 1.9 * radius


def test_every_task_labels_a_random_sample_with_the_declared_shape():
    s = render_sample(0, 5, SynthWorldConfig(resolution=32))
    for name, task in TRANSFER_TASKS.items():
        label = transfer_labels(s, name)
        if task.kind == "classification":
            assert label.shape == () and 0 <= int(label) < task.num_classes
        elif task.kind == "regression":
            assert label.shape == (task.out_dim,) and np.isfinite(label).all()
        else:
            assert label.shape == (32, 32)
            if task.kind == "segmentation":
                assert int(label.max()) < task.num_classes
    with pytest.raises(ConfigError, match="unknown transfer task"):
        transfer_labels(s, "colour_of_sky")


def test_a_crash_while_rebuilding_the_training_cache_is_never_trusted(tmp_path, monkeypatch):
    """The cache of run A is being rewritten for run B when B crashes; A must rebuild, not read B's half."""
    from omnimask.data import sources
    from omnimask.data.config import DataConfig
    from omnimask.loading import load, shipped_model_path

    specs = {"rgb@64": load(shipped_model_path()).specs["rgb@64"]}
    a, b = (DataConfig(source="synth", num_train=3, num_val=2, synth_seed=seed, tokenizers="shipped")
            for seed in (0, 1))
    cache = tmp_path / "data"
    first = sources.synth_stores(a, specs, cache)[0]
    expected = [first[i]["rgb@64"].copy() for i in range(3)]
    real = sources.render_range

    def crash_on_val(seed, start, num, world, desc):
        if "val" in desc:
            raise KeyboardInterrupt  # killed after the training split was rewritten
        return real(seed, start, num, world, desc)

    monkeypatch.setattr(sources, "render_range", crash_on_val)
    with pytest.raises(KeyboardInterrupt):
        sources.synth_stores(b, specs, cache)
    monkeypatch.setattr(sources, "render_range", real)
    again = sources.synth_stores(a, specs, cache)[0]
    assert all(np.array_equal(again[i]["rgb@64"], expected[i]) for i in range(3))
