"""Dense-prediction metrics of 4M's RGB→X evaluation: depth, surface normals, semantic segmentation.

The per-map formulas are those of :mod:`omnimask.metrics` (abs-rel / δ1 on valid depth, angular
error of normals, mIoU from a confusion matrix), which the tokenizers' reconstructions are judged by
too; this module accumulates them over an evaluation set the way 4M reports transfer results:

* depth — absolute relative error and δ1 (max(p/t, t/p) < 1.25), pooled over every valid pixel
  (target depth > 0) of the set;
* normals — mean and median angular error in degrees and the share of pixels under 11.25°, over
  every valid pixel (target normal ≠ 0);
* semantic segmentation — mean IoU from one confusion matrix of the whole set (classes absent from
  both prediction and truth are ignored) and pixel accuracy.

Every accumulator takes per-sample maps in their natural units (metres, unit vectors, class ids):
``update(preds, truths)`` with two equally long sequences, ``compute() -> dict``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from omnimask.metrics import MapMetrics, class_iou, normal_angles


def _stack(maps: Sequence[Any]) -> np.ndarray:
    return np.stack([np.asarray(m) for m in maps])


def _check(preds: Sequence[Any], truths: Sequence[Any]) -> None:
    if len(preds) != len(truths):
        raise ValueError(f"{len(preds)} predictions for {len(truths)} ground-truth maps")


class _PooledMaps:
    """Feeds per-sample maps, stacked in ``dtype``, to a :class:`MapMetrics` accumulator."""

    def __init__(self, kind: str, dtype: type, num_classes: int = 0) -> None:
        self._acc, self._dtype = MapMetrics(kind, num_classes), dtype

    def update(self, preds: Sequence[Any], truths: Sequence[Any]) -> None:
        _check(preds, truths)
        if len(preds):
            self._acc.update(_stack(preds).astype(self._dtype), _stack(truths).astype(self._dtype))


class DepthMetric(_PooledMaps):
    """Absolute relative error and δ1 over the valid pixels (target > 0) of all maps; (H, W) metres."""

    def __init__(self) -> None:
        super().__init__("depth", np.float32)

    def compute(self) -> dict[str, float]:
        out = self._acc.compute()
        return {"abs_rel": out["abs_rel"], "delta1": out["delta1"]}


class NormalMetric:
    """Mean / median angular error (degrees) and % of pixels under 11.25°; (H, W, 3) normals, 0 = invalid."""

    THRESHOLDS = (11.25, 22.5, 30.0)

    def __init__(self) -> None:
        self._angles: list[torch.Tensor] = []

    def update(self, preds: Sequence[Any], truths: Sequence[Any]) -> None:
        _check(preds, truths)
        if len(preds):
            angles = normal_angles(_stack(preds).astype(np.float32), _stack(truths).astype(np.float32))
            self._angles.append(angles.float())

    def compute(self) -> dict[str, float]:
        angles = torch.cat(self._angles) if self._angles else torch.zeros(0)
        if angles.numel() == 0:
            return {"mean_angle": math.nan, "median_angle": math.nan,
                    **{f"within_{t}": math.nan for t in self.THRESHOLDS}}  # fmt: skip
        return {
            "mean_angle": float(angles.double().mean()),
            "median_angle": float(angles.double().median()),
            **{f"within_{t}": float((angles < t).double().mean()) for t in self.THRESHOLDS},
        }


class SemsegMetric(_PooledMaps):
    """Mean IoU and pixel accuracy from the confusion matrix of all maps; (H, W) class ids in [0, K)."""

    def __init__(self, num_classes: int) -> None:
        super().__init__("semseg", np.int64, num_classes)

    @property
    def confusion(self) -> torch.Tensor:
        """(K, K) counts so far: row = true class, column = predicted class."""
        assert self._acc.conf is not None
        return self._acc.conf

    def compute(self) -> dict[str, Any]:
        out = self._acc.compute()
        iou = class_iou(self.confusion)
        return {"miou": out["miou"], "pixel_accuracy": out["pixel_accuracy"],
                "class_iou": [None if math.isnan(v) else v for v in iou.tolist()]}  # fmt: skip
