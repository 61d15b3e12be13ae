"""The metric formulas on hand-made inputs with known answers: maps (and batch-independent accumulation),
recall@k with ties and pools, detection AP / mAP."""

import math

import numpy as np
import pytest
import torch

from omnimask.metrics import (
    MapMetrics,
    binary_counts,
    binary_iou,
    box_iou,
    class_average_precision,
    class_iou,
    confusion_matrix,
    depth_abs_rel,
    depth_delta,
    f1_score,
    interpolated_ap,
    mean_average_precision,
    mean_iou,
    normal_angular_error,
    pixel_accuracy,
    pooled_recall,
    pools,
    psnr,
    recall_at_k,
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


def test_recall_of_identity_ranks_and_ties():
    assert recall_at_k(np.eye(5), 1) == 1.0
    assert recall_at_k(np.ones((4, 4)), 1) == pytest.approx(1 / 4)  # all tied: chance
    assert recall_at_k(np.ones((4, 4)), 3) == pytest.approx(3 / 4)
    sim = np.array([[0.5, 0.9, 0.1], [0.2, 0.8, 0.3], [0.0, 0.0, 0.7]])  # query 0's match ranks second
    assert recall_at_k(sim, 1) == pytest.approx(2 / 3)
    assert recall_at_k(sim, 2) == 1.0
    with pytest.raises(ValueError, match="square"):
        recall_at_k(np.ones((2, 3)), 1)


def test_pools_cover_every_item():
    assert pools(250, 100) == [slice(0, 100), slice(100, 250)]
    assert pools(30, 100) == [slice(0, 30)]
    assert pools(0, 100) == []


def test_pooled_recall_compares_within_pools_only():
    emb = torch.eye(4)
    gallery = torch.stack([emb[1], emb[0], emb[2], emb[3]])  # swapped in the first pool of two
    assert pooled_recall(emb, gallery, (1,), pool=2) == {"r@1": pytest.approx(0.5)}
    assert pooled_recall(emb, emb, (1,), pool=2) == {"r@1": 1.0}


CUBE = {"class": "cube", "box": [0.1, 0.1, 0.4, 0.4]}
SPHERE = {"class": "sphere", "box": [0.5, 0.5, 0.9, 0.9]}


def _pred(box: dict, score: float | None = None, shift: float = 0.0) -> dict:
    return {"class": box["class"], "box": [v + shift for v in box["box"]], "score": score}


def test_box_iou():
    assert box_iou([0, 0, 2, 2], [1, 1, 3, 3]) == pytest.approx(1 / 7)
    assert box_iou([0, 0, 1, 1], [0, 0, 1, 1]) == 1.0
    assert box_iou([0, 0, 1, 1], [1, 0, 2, 1]) == 0.0  # touching boxes do not overlap


def test_perfect_boxes_give_map_one():
    truths = [[CUBE, SPHERE], [CUBE]]
    m, per_class = mean_average_precision([[_pred(CUBE), _pred(SPHERE)], [_pred(CUBE)]], truths)
    assert m == 1.0 and per_class == {"cube": 1.0, "sphere": 1.0}


def test_an_unscored_false_positive_halves_precision():
    far = {"class": "cube", "box": [0.6, 0.0, 0.9, 0.2]}
    assert class_average_precision([[_pred(CUBE), _pred(far)]], [[CUBE]], "cube") == pytest.approx(0.5)
    # the order of tied (unscored) predictions does not matter
    assert class_average_precision([[_pred(far), _pred(CUBE)]], [[CUBE]], "cube") == pytest.approx(0.5)


def test_scores_rank_predictions():
    far = {"class": "cube", "box": [0.6, 0.0, 0.9, 0.2]}
    assert class_average_precision([[_pred(CUBE, 0.9), _pred(far, 0.1)]], [[CUBE]], "cube") == 1.0
    assert class_average_precision([[_pred(CUBE, 0.1), _pred(far, 0.9)]], [[CUBE]], "cube") == pytest.approx(0.5)


def test_misses_duplicates_and_low_overlap():
    other = {"class": "cube", "box": [0.6, 0.6, 0.8, 0.8]}
    assert class_average_precision([[_pred(CUBE)]], [[CUBE, other]], "cube") == pytest.approx(0.5)  # recall ½
    assert class_average_precision([[_pred(CUBE), _pred(CUBE)]], [[CUBE]], "cube") == pytest.approx(0.5)  # duplicate
    # shifted by 0.1 on a 0.3 box: IoU = 0.04 / 0.14 < 0.5, a false positive
    assert class_average_precision([[_pred(CUBE, shift=0.1)]], [[CUBE]], "cube") == 0.0
    assert class_average_precision([[]], [[CUBE]], "cube") == 0.0
    assert math.isnan(class_average_precision([[_pred(CUBE)]], [[SPHERE]], "cube"))  # no ground truth


def test_map_averages_classes_with_ground_truth_only():
    wrong_class = {"class": "cone", "box": SPHERE["box"]}
    m, per_class = mean_average_precision([[_pred(CUBE), wrong_class]], [[CUBE, SPHERE]])
    assert per_class == {"cube": 1.0, "sphere": 0.0}
    assert m == pytest.approx(0.5)


def test_interpolated_ap_uses_the_precision_envelope():
    # precision rises after a dip: the envelope takes the later maximum
    assert interpolated_ap([0.5, 0.5, 1.0], [1.0, 0.5, 0.75]) == pytest.approx(0.5 * 1.0 + 0.5 * 0.75)


def test_retrieval_recall_counts_ties_at_their_expected_rate():
    sims = np.array([[0.9, 0.1, 0.2], [0.5, 0.4, 0.6], [0.3, 0.3, 0.3]])
    # query 0: its match is first; query 1: two items above it; query 2: three-way tie
    assert recall_at_k(sims, 1) == pytest.approx((1 + 0 + 1 / 3) / 3)
    assert recall_at_k(sims, 2) == pytest.approx((1 + 0 + 2 / 3) / 3)
    assert recall_at_k(np.ones((4, 4)), 3) == pytest.approx(0.75)
