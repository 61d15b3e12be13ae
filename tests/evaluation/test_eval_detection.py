"""The detection accumulator: box lists of several images pooled into one mAP@0.5 (formulas: test_metrics.py)."""

import pytest

from omnimask.evaluation.metrics import DetectionMetric

CUBE = {"class": "cube", "box": [0.1, 0.1, 0.4, 0.4]}
SPHERE = {"class": "sphere", "box": [0.5, 0.5, 0.9, 0.9]}


def _pred(box: dict, score: float | None = None, shift: float = 0.0) -> dict:
    return {"class": box["class"], "box": [v + shift for v in box["box"]], "score": score}


def test_detection_metric_accumulates_images():
    m = DetectionMetric()
    m.update([[_pred(CUBE)]], [[CUBE]])
    m.update([[]], [[SPHERE]])
    out = m.compute()
    assert out["map50"] == pytest.approx(0.5) and out["boxes_per_image"] == 0.5
