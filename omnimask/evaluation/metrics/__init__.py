"""Task metrics of the 4M evaluation: depth, normals, segmentation, detection, captions, retrieval.

Every metric is an accumulator with ``update(preds, truths)`` (two equally long per-sample sequences)
and ``compute() -> dict`` of named numbers, so the harness treats them alike.
"""

from typing import Any, Protocol

from omnimask.evaluation.metrics.captions import CaptionMetric, parse_caption, score_caption
from omnimask.evaluation.metrics.detection import (
    DetectionMetric,
    box_iou,
    class_average_precision,
    interpolated_ap,
    mean_average_precision,
)
from omnimask.evaluation.metrics.maps import DepthMetric, NormalMetric, SemsegMetric
from omnimask.evaluation.metrics.retrieval import ClipScoreMetric, RetrievalMetric, pooled_recall, recall_at_k


class Metric(Protocol):
    """An accumulator over an evaluation set."""

    def update(self, preds: Any, truths: Any) -> None: ...

    def compute(self) -> dict[str, Any]: ...


__all__ = [
    "CaptionMetric",
    "ClipScoreMetric",
    "DepthMetric",
    "DetectionMetric",
    "Metric",
    "NormalMetric",
    "RetrievalMetric",
    "SemsegMetric",
    "box_iou",
    "class_average_precision",
    "interpolated_ap",
    "mean_average_precision",
    "parse_caption",
    "pooled_recall",
    "recall_at_k",
    "score_caption",
]
