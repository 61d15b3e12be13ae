"""Reconstruction quality of image-like modalities: plain metric functions and a dataset accumulator.

These are the numbers 4M-style tokenizers are judged by (and the evaluation of generated maps
reuses them): RGB PSNR; depth absolute relative error and δ1 on valid pixels, in metres; surface
normal angular error in degrees; semantic segmentation pixel accuracy and mean IoU from a confusion
matrix; edge F1 / IoU from binary counts. Every function takes raw maps (numpy arrays or tensors)
in the modality's natural units and an optional ``valid`` mask (True = the pixel counts).

:class:`MapMetrics` accumulates the sufficient statistics over many batches (pixel-weighted for
depth and normals, per image for PSNR, one confusion matrix for segmentation) so that a whole
validation split gives one set of numbers, independent of the batch size.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

ArrayLike = torch.Tensor | np.ndarray


def _t(x: ArrayLike) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x))


def _valid_or_all(valid: ArrayLike | None, like: torch.Tensor) -> torch.Tensor:
    return torch.ones_like(like, dtype=torch.bool) if valid is None else _t(valid).bool()


# ---- RGB ---------------------------------------------------------------------------------------
def psnr(pred: ArrayLike, target: ArrayLike, max_value: float = 255.0) -> torch.Tensor:
    """Per-image PSNR in dB of (B, H, W, C) or (B, C, H, W) images → (B,) (identical images: +inf)."""
    p, t = _t(pred).double(), _t(target).double()
    mse = (p - t).square().flatten(1).mean(1)
    return 10 * torch.log10(max_value**2 / mse)


# ---- depth -------------------------------------------------------------------------------------
def depth_valid(target: ArrayLike) -> torch.Tensor:
    """Pixels with a surface: target depth > 0 (SynthWorld writes 0 on sky)."""
    return _t(target) > 0


def depth_abs_rel(pred: ArrayLike, target: ArrayLike, valid: ArrayLike | None = None) -> float:
    """Mean |pred − target| / target over valid pixels (default: target > 0)."""
    p, t = _t(pred).double(), _t(target).double()
    v = depth_valid(t) if valid is None else _t(valid).bool() & (t > 0)
    return float(((p[v] - t[v]).abs() / t[v]).mean()) if v.any() else math.nan


def depth_delta(pred: ArrayLike, target: ArrayLike, valid: ArrayLike | None = None, threshold: float = 1.25) -> float:
    """δ accuracy: fraction of valid pixels with max(pred/target, target/pred) < ``threshold`` (δ1: 1.25)."""
    p, t = _t(pred).double(), _t(target).double()
    v = depth_valid(t) if valid is None else _t(valid).bool() & (t > 0)
    if not v.any():
        return math.nan
    ratio = torch.maximum(p[v] / t[v], t[v] / p[v].clamp_min(1e-12))
    return float((ratio < threshold).double().mean())


# ---- normals -----------------------------------------------------------------------------------
def normal_angles(pred: ArrayLike, target: ArrayLike, valid: ArrayLike | None = None) -> torch.Tensor:
    """Angles in degrees between (..., 3) normal maps at valid pixels (default: target ≠ 0) → (P,)."""
    p, t = _t(pred).double(), _t(target).double()
    v = (t != 0).any(-1) if valid is None else _t(valid).bool()
    cos = torch.nn.functional.cosine_similarity(p[v], t[v], dim=-1, eps=1e-12)
    return torch.rad2deg(torch.arccos(cos.clamp(-1, 1)))


def normal_angular_error(pred: ArrayLike, target: ArrayLike, valid: ArrayLike | None = None) -> float:
    """Mean angular error in degrees over valid pixels (see :func:`normal_angles`)."""
    angles = normal_angles(pred, target, valid)
    return float(angles.mean()) if angles.numel() else math.nan


# ---- semantic segmentation ---------------------------------------------------------------------
def confusion_matrix(pred: ArrayLike, target: ArrayLike, num_classes: int) -> torch.Tensor:
    """(K, K) int64 counts, row = true class, column = predicted class (ids outside [0, K) ignored)."""
    p, t = _t(pred).long().reshape(-1), _t(target).long().reshape(-1)
    keep = (t >= 0) & (t < num_classes) & (p >= 0) & (p < num_classes)
    return torch.bincount(t[keep] * num_classes + p[keep], minlength=num_classes**2).reshape(num_classes, -1)


def pixel_accuracy(conf: torch.Tensor) -> float:
    """Correct pixels / all pixels of a confusion matrix."""
    total = int(conf.sum())
    return float(conf.diag().sum()) / total if total else math.nan


def class_iou(conf: torch.Tensor) -> torch.Tensor:
    """(K,) IoU per class: TP / (TP + FP + FN); NaN for classes absent from both prediction and truth."""
    tp = conf.diag().double()
    union = conf.sum(0).double() + conf.sum(1).double() - tp
    return torch.where(union > 0, tp / union.clamp_min(1), torch.nan)


def mean_iou(conf: torch.Tensor) -> float:
    """Mean IoU over the classes that occur in the prediction or the truth."""
    iou = class_iou(conf)
    present = ~iou.isnan()
    return float(iou[present].mean()) if present.any() else math.nan


# ---- edges (binary maps) -----------------------------------------------------------------------
def binary_counts(pred: ArrayLike, target: ArrayLike) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) of two binary maps of the same shape."""
    p, t = _t(pred).bool(), _t(target).bool()
    return int((p & t).sum()), int((p & ~t).sum()), int((~p & t).sum())


def f1_score(tp: int, fp: int, fn: int) -> float:
    """2·TP / (2·TP + FP + FN); 1 when both maps are empty."""
    return 2 * tp / (2 * tp + fp + fn) if (tp + fp + fn) else 1.0


def binary_iou(tp: int, fp: int, fn: int) -> float:
    """TP / (TP + FP + FN); 1 when both maps are empty."""
    return tp / (tp + fp + fn) if (tp + fp + fn) else 1.0


#: The headline metric of each map kind and whether higher is better (for logs and reports).
HEADLINE: dict[str, tuple[str, bool]] = {
    "rgb": ("psnr", True),
    "depth": ("delta1", True),
    "normal": ("angular_error_deg", False),
    "semseg": ("miou", True),
    "edges": ("f1", True),
    "clip": ("cosine", True),
    "clip_global": ("cosine", True),
}


# ---- dataset accumulation ----------------------------------------------------------------------
class MapMetrics:
    """Accumulates the reconstruction metrics of one map kind over batches of raw maps.

    Kinds: ``rgb`` (uint8 (B, H, W, 3)), ``depth`` (metres (B, H, W), 0 = invalid), ``normal``
    ((B, H, W, 3), 0 = invalid), ``semseg`` (class ids (B, H, W)), ``edges`` (bool (B, H, W)).
    """

    KINDS = ("rgb", "depth", "normal", "semseg", "edges")

    def __init__(self, kind: str, num_classes: int = 0) -> None:
        if kind not in self.KINDS:
            raise KeyError(f"no reconstruction metrics for {kind!r}; known: {list(self.KINDS)}")
        if kind == "semseg" and num_classes < 1:
            raise ValueError("semseg metrics need num_classes")
        self.kind, self.num_classes = kind, num_classes
        self.sums: dict[str, float] = {}
        self.count = 0.0
        self.conf = torch.zeros(num_classes, num_classes, dtype=torch.int64) if kind == "semseg" else None

    def _add(self, **values: float) -> None:
        for k, v in values.items():
            self.sums[k] = self.sums.get(k, 0.0) + v

    def update(self, pred: ArrayLike, target: ArrayLike) -> None:
        """Add a batch of reconstructions ``pred`` of raw maps ``target``."""
        p, t = _t(pred), _t(target)
        if self.kind == "rgb":
            values = psnr(p, t).clamp(max=100.0)  # a perfect image counts as 100 dB, not +inf
            self._add(psnr=float(values.sum()))
            self.count += len(values)
        elif self.kind == "depth":
            n = int(depth_valid(t).sum())
            if n:
                self._add(abs_rel=depth_abs_rel(p, t) * n, delta1=depth_delta(p, t) * n)
                self.count += n
        elif self.kind == "normal":
            angles = normal_angles(p, t)
            self._add(angle=float(angles.sum()), within_11=float((angles < 11.25).sum()))
            self.count += angles.numel()
        elif self.kind == "semseg":
            self.conf += confusion_matrix(p, t, self.num_classes)
        else:
            tp, fp, fn = binary_counts(p, t)
            self._add(tp=tp, fp=fp, fn=fn)

    def compute(self) -> dict[str, Any]:
        """The metrics so far (NaN where nothing counted)."""
        def mean(key: str) -> float:
            return self.sums.get(key, 0.0) / self.count if self.count else math.nan

        if self.kind == "rgb":
            return {"psnr": mean("psnr")}
        if self.kind == "depth":
            return {"abs_rel": mean("abs_rel"), "delta1": mean("delta1")}
        if self.kind == "normal":
            return {"angular_error_deg": mean("angle"), "within_11.25deg": mean("within_11")}
        if self.kind == "semseg":
            assert self.conf is not None
            iou = class_iou(self.conf)
            return {"pixel_accuracy": pixel_accuracy(self.conf), "miou": mean_iou(self.conf),
                    "class_iou": [None if math.isnan(v) else round(v, 5) for v in iou.tolist()]}  # fmt: skip
        tp, fp, fn = (int(self.sums.get(k, 0)) for k in ("tp", "fp", "fn"))
        return {"f1": f1_score(tp, fp, fn), "iou": binary_iou(tp, fp, fn),
                "precision": tp / (tp + fp) if tp + fp else math.nan,
                "recall": tp / (tp + fn) if tp + fn else math.nan}  # fmt: skip
