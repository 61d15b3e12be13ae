"""Depth, normal and segmentation metrics on hand-made maps with known values."""

import math

import numpy as np
import pytest

from omnimask.evaluation.metrics import DepthMetric, NormalMetric, SemsegMetric


def _depth():
    truth = np.array([[1.0, 2.0], [4.0, 0.0]], np.float32)  # one sky pixel (0) is not scored
    return truth


def test_perfect_depth_has_delta1_one_and_no_error():
    m = DepthMetric()
    m.update([_depth()], [_depth()])
    assert m.compute() == {"abs_rel": 0.0, "delta1": 1.0}


def test_depth_errors_on_valid_pixels_only():
    truth = _depth()
    pred = np.array([[1.1, 4.0], [4.0, 123.0]], np.float32)  # +10 %, ×2, exact; the sky pixel is ignored
    m = DepthMetric()
    m.update([pred], [truth])
    out = m.compute()
    assert out["abs_rel"] == pytest.approx((0.1 + 1.0 + 0.0) / 3, rel=1e-6)
    assert out["delta1"] == pytest.approx(2 / 3)


def test_depth_pools_pixels_over_maps():
    m = DepthMetric()
    m.update([_depth()], [_depth()])  # 3 perfect pixels
    m.update([np.full((1, 1), 2.0, np.float32)], [np.full((1, 1), 1.0, np.float32)])  # 1 pixel at ratio 2
    assert m.compute()["delta1"] == pytest.approx(3 / 4)


def test_normal_angles_mean_median_and_threshold():
    up = np.array([0.0, 0.0, 1.0], np.float32)
    ten = np.array([math.sin(math.radians(10)), 0.0, math.cos(math.radians(10))], np.float32)
    truth = np.stack([up, up, up, np.zeros(3, np.float32)])[None]  # (1, 4, 3); the last pixel is invalid
    pred = np.stack([up, ten, np.array([1.0, 0, 0], np.float32), up])[None]
    m = NormalMetric()
    m.update([pred], [truth])
    out = m.compute()
    assert out["mean_angle"] == pytest.approx((0 + 10 + 90) / 3, abs=1e-3)
    assert out["median_angle"] == pytest.approx(10, abs=1e-3)
    assert out["within_11.25"] == pytest.approx(2 / 3)
    assert out["within_30.0"] == pytest.approx(2 / 3)


def test_perfect_normals():
    n = np.random.default_rng(0).normal(size=(2, 3, 3)).astype(np.float32)
    m = NormalMetric()
    m.update([n], [n])
    out = m.compute()
    assert out["mean_angle"] < 1e-2 and out["within_11.25"] == 1.0


def test_known_confusion_matrix_gives_known_miou():
    truth = np.array([[0, 0, 1, 1, 2, 2]])
    pred = np.array([[0, 1, 1, 1, 2, 0]])
    m = SemsegMetric(num_classes=4)  # class 3 appears in neither map: ignored
    m.update([pred], [truth])
    np.testing.assert_array_equal(m.confusion.numpy(), [[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]])
    out = m.compute()
    assert out["class_iou"][:3] == pytest.approx([1 / 3, 2 / 3, 1 / 2]) and out["class_iou"][3] is None
    assert out["miou"] == pytest.approx(0.5)
    assert out["pixel_accuracy"] == pytest.approx(4 / 6)


def test_perfect_segmentation_and_length_check():
    seg = np.array([[0, 3], [3, 5]])
    m = SemsegMetric(num_classes=9)
    m.update([seg], [seg])
    assert m.compute()["miou"] == 1.0
    with pytest.raises(ValueError, match="2 predictions for 1"):
        m.update([seg, seg], [seg])
