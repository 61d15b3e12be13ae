"""mAP@0.5 on hand-made boxes: perfect, false positives, misses, ranking by score, classes."""

import math

import pytest

from omnimask.evaluation.metrics import (
    DetectionMetric,
    box_iou,
    class_average_precision,
    interpolated_ap,
    mean_average_precision,
)

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


def test_detection_metric_accumulates_images():
    m = DetectionMetric()
    m.update([[_pred(CUBE)]], [[CUBE]])
    m.update([[]], [[SPHERE]])
    out = m.compute()
    assert out["map50"] == pytest.approx(0.5) and out["boxes_per_image"] == 0.5
