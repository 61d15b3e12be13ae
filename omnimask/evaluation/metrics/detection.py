"""Object detection mAP@0.5 (PASCAL VOC style) for 4M's RGB→det evaluation.

:class:`DetectionMetric` collects the box lists of an evaluation set and scores them with
:func:`omnimask.metrics.mean_average_precision` (matching, tie groups and the all-point
interpolation are described there). Boxes are ``{"class": str, "box": [x0, y0, x1, y1],
"score": float | None}`` mappings; generated boxes usually carry no score (4M's det text has none).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from omnimask.metrics import Box, mean_average_precision


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
