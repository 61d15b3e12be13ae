"""Reconstruction metrics on hand-made inputs with known answers, and batch-independent accumulation."""

import math

import numpy as np
import pytest
import torch

from omnimask.tokenizers.training.metrics import (
    MapMetrics,
    binary_counts,
    binary_iou,
    class_iou,
    confusion_matrix,
    depth_abs_rel,
    depth_delta,
    f1_score,
    mean_iou,
    normal_angular_error,
    pixel_accuracy,
    psnr,
)


def test_psnr_of_a_known_error():
    target = np.zeros((2, 4, 4, 3), np.uint8)
    pred = target.copy()
    pred[0] += 1  # MSE 1 → 20·log10(255) dB
    values = psnr(pred, target)
    assert values[0].item() == pytest.approx(20 * math.log10(255))
    assert math.isinf(values[1].item())


def test_depth_perfect_and_known_ratio():
    target = torch.tensor([[[2.0, 4.0], [0.0, 8.0]]])  # one sky pixel
    assert depth_delta(target, target) == 1.0
    assert depth_abs_rel(target, target) == 0.0
    pred = target * 1.3  # every valid pixel 30 % too far: δ1 fails everywhere, δ2 (1.25²) passes
    assert depth_abs_rel(pred, target) == pytest.approx(0.3)
    assert depth_delta(pred, target) == 0.0
    assert depth_delta(pred, target, threshold=1.25**2) == 1.0
    half = target.clone()
    half[0, 0, 0] = 10.0  # one of three valid pixels wrong; the sky pixel never counts
    assert depth_delta(half, target) == pytest.approx(2 / 3)
    valid = torch.tensor([[[False, True], [True, True]]])
    assert depth_delta(half, target, valid) == 1.0


def test_normal_angles():
    target = np.zeros((1, 2, 2, 3), np.float32)
    target[..., 2] = 1.0
    target[0, 1, 1] = 0.0  # invalid (sky)
    pred = target.copy()
    pred[0, 0, 0] = (1.0, 0.0, 0.0)  # 90° off; the other two valid pixels exact
    pred[0, 0, 1] = (0.0, 0.0, 5.0)  # length does not matter
    assert normal_angular_error(pred, target) == pytest.approx(30.0)


def test_confusion_matrix_accuracy_and_miou():
    target = torch.tensor([0, 0, 1, 1, 2, 2])
    pred = torch.tensor([0, 1, 1, 1, 2, 0])
    conf = confusion_matrix(pred, target, num_classes=4)
    assert conf.tolist() == [[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]
    assert pixel_accuracy(conf) == pytest.approx(4 / 6)
    iou = class_iou(conf)  # class 0: 1/(2+2-1) = 1/3; class 1: 2/(2+3-2) = 2/3; class 2: 1/2; class 3 absent
    assert iou[:3].tolist() == pytest.approx([1 / 3, 2 / 3, 1 / 2]) and math.isnan(iou[3])
    assert mean_iou(conf) == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)
    assert mean_iou(confusion_matrix(target, target, 3)) == 1.0


def test_binary_f1_and_iou():
    target = np.array([[1, 1, 0, 0]], bool)
    pred = np.array([[1, 0, 1, 0]], bool)
    tp, fp, fn = binary_counts(pred, target)
    assert (tp, fp, fn) == (1, 1, 1)
    assert f1_score(tp, fp, fn) == pytest.approx(0.5)
    assert binary_iou(tp, fp, fn) == pytest.approx(1 / 3)
    assert f1_score(0, 0, 0) == 1.0


@pytest.mark.parametrize("kind", ["rgb", "depth", "normal", "semseg", "edges"])
def test_accumulated_metrics_do_not_depend_on_batching(kind):
    g = np.random.default_rng(0)
    shape = {"rgb": (6, 8, 8, 3), "normal": (6, 8, 8, 3)}.get(kind, (6, 8, 8))
    if kind == "rgb":
        target, pred = (g.integers(0, 256, shape).astype(np.uint8) for _ in range(2))
    elif kind == "semseg":
        target, pred = (g.integers(0, 5, shape) for _ in range(2))
    elif kind == "edges":
        target, pred = (g.random(shape) > 0.7 for _ in range(2))
    else:
        target, pred = g.random(shape) + 0.5, g.random(shape) + 0.5
        target[:, 0] = 0  # invalid pixels
    whole, parts = MapMetrics(kind, num_classes=5), MapMetrics(kind, num_classes=5)
    whole.update(pred, target)
    for i in range(0, 6, 2):
        parts.update(pred[i : i + 2], target[i : i + 2])
    a, b = whole.compute(), parts.compute()
    assert a.pop("class_iou", None) == b.pop("class_iou", None)
    assert a == pytest.approx(b)


def test_perfect_reconstructions_score_perfectly():
    depth = np.full((1, 4, 4), 3.0, np.float32)
    metrics = MapMetrics("depth")
    metrics.update(depth, depth)
    assert metrics.compute() == {"abs_rel": 0.0, "delta1": 1.0}
    seg = MapMetrics("semseg", num_classes=3)
    seg.update(np.array([[0, 2]]), np.array([[0, 2]]))
    assert seg.compute()["miou"] == 1.0 and seg.compute()["class_iou"] == [1.0, None, 1.0]
    with pytest.raises(KeyError, match="known"):
        MapMetrics("sound")
