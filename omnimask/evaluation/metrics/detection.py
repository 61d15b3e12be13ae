"""Object detection mAP@0.5 (PASCAL VOC style) for 4M's RGB→det evaluation.

For each class, the predictions of all images are ranked by score; a prediction is a true positive
when it overlaps a not yet matched ground-truth box of its class in its image with IoU ≥ 0.5
(the best-overlapping one), else a false positive. Average precision is the area under the
precision–recall curve with VOC's all-point interpolation (precision made monotone from the right);
mAP is its mean over the classes that have ground-truth boxes.

Generated boxes usually carry no score (4M's det text has none). Predictions of equal score are one
*tie group*: precision and recall are only read after a whole group, so the result does not depend
on the order of tied predictions — with no scores at all AP is precision × recall of the set.

Boxes are ``{"class": str, "box": [x0, y0, x1, y1], "score": float | None}`` mappings, coordinates
in any consistent unit (SynthWorld: normalised to [0, 1]).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import groupby
from typing import Any

import numpy as np

Box = Mapping[str, Any]


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``[x0, y0, x1, y1]`` boxes (0 when either is empty)."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def interpolated_ap(recall: Sequence[float], precision: Sequence[float]) -> float:
    """VOC all-point AP from increasing recall points and their precisions (monotone envelope)."""
    mrec = np.concatenate([[0.0], np.asarray(recall, np.float64), [1.0]])
    mpre = np.concatenate([[0.0], np.asarray(precision, np.float64), [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]  # precision envelope, non-increasing in recall
    steps = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]).sum())


def _score(box: Box) -> float:
    s = box.get("score")
    return 1.0 if s is None else float(s)


def class_average_precision(preds: Sequence[Sequence[Box]], truths: Sequence[Sequence[Box]], label: str,
                            iou_threshold: float = 0.5) -> float:
    """AP of class ``label`` over images: ``preds[i]`` / ``truths[i]`` are the boxes of image i.

    Returns NaN when no image has a ground-truth box of the class.
    """
    gts = [[b["box"] for b in boxes if b["class"] == label] for boxes in truths]
    num_gt = sum(len(g) for g in gts)
    if num_gt == 0:
        return math.nan
    ranked = sorted(((i, b) for i, boxes in enumerate(preds) for b in boxes if b["class"] == label),
                    key=lambda item: -_score(item[1]))  # stable: ties keep their order
    used = [[False] * len(g) for g in gts]
    tp = fp = 0
    recall, precision = [], []
    for _, group in groupby(ranked, key=lambda item: _score(item[1])):
        for image, box in group:
            ious = [0.0 if used[image][j] else box_iou(box["box"], g) for j, g in enumerate(gts[image])]
            best = int(np.argmax(ious)) if ious else -1
            if best >= 0 and ious[best] >= iou_threshold:
                used[image][best] = True
                tp += 1
            else:
                fp += 1
        recall.append(tp / num_gt)
        precision.append(tp / (tp + fp))
    return interpolated_ap(recall, precision) if recall else 0.0


def mean_average_precision(preds: Sequence[Sequence[Box]], truths: Sequence[Sequence[Box]],
                           iou_threshold: float = 0.5) -> tuple[float, dict[str, float]]:
    """mAP over the classes with ground truth, and the AP of each of them."""
    if len(preds) != len(truths):
        raise ValueError(f"box lists of {len(preds)} images for {len(truths)} ground-truth images")
    labels = sorted({b["class"] for boxes in truths for b in boxes})
    per_class = {c: class_average_precision(preds, truths, c, iou_threshold) for c in labels}
    return (float(np.mean(list(per_class.values()))) if per_class else math.nan), per_class


class DetectionMetric:
    """Accumulates box lists per image; ``compute()`` gives mAP@``iou_threshold`` and per-class AP."""

    def __init__(self, iou_threshold: float = 0.5) -> None:
        self.iou_threshold = iou_threshold
        self.preds: list[list[Box]] = []
        self.truths: list[list[Box]] = []

    def update(self, preds: Sequence[Sequence[Box]], truths: Sequence[Sequence[Box]]) -> None:
        if len(preds) != len(truths):
            raise ValueError(f"box lists of {len(preds)} images for {len(truths)} ground-truth images")
        self.preds += [list(p or []) for p in preds]
        self.truths += [list(t) for t in truths]

    def compute(self) -> dict[str, Any]:
        m, per_class = mean_average_precision(self.preds, self.truths, self.iou_threshold)
        per_image = sum(len(boxes) for boxes in self.preds) / max(1, len(self.preds))
        return {"map50": m, "class_ap": per_class, "boxes_per_image": per_image}
