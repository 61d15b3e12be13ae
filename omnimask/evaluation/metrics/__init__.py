"""Task metrics of the 4M evaluation: depth, normals, segmentation, detection, captions, retrieval, box placement.

Every metric is an accumulator with ``update(preds, truths)`` (two equally long per-sample sequences)
and ``compute() -> dict`` of named numbers, so the harness treats them alike. The formulas they
accumulate (abs-rel, δ1, angles, mIoU, mAP, recall@k) are those of :mod:`omnimask.metrics`.
"""

from typing import Any, Protocol

from omnimask.evaluation.metrics.captions import CaptionMetric, parse_caption, score_caption
from omnimask.evaluation.metrics.detection import DetectionMetric
from omnimask.evaluation.metrics.maps import DepthMetric, NormalMetric, SemsegMetric
from omnimask.evaluation.metrics.placement import BoxPlacementMetric
from omnimask.evaluation.metrics.retrieval import ClipScoreMetric, RetrievalMetric


class Metric(Protocol):
    """An accumulator over an evaluation set."""

    def update(self, preds: Any, truths: Any) -> None: ...

    def compute(self) -> dict[str, Any]: ...


__all__ = [
    "BoxPlacementMetric",
    "CaptionMetric",
    "ClipScoreMetric",
    "DepthMetric",
    "DetectionMetric",
    "Metric",
    "NormalMetric",
    "RetrievalMetric",
    "SemsegMetric",
    "parse_caption",
    "score_caption",
]
