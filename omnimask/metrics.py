"""The metric formulas of omnimask, in one low module: maps, retrieval and detection.

Tokenizer training (:mod:`omnimask.training.tokenizers`), MiniCLIP training
(:mod:`omnimask.training.miniclip`) and the 4M evaluation (:mod:`omnimask.evaluation.metrics`, which
adds the per-task accumulators and caption parsing) all score with these; the module imports only
numpy and torch.

* **maps** — RGB PSNR; depth absolute relative error and δ1 on valid pixels, in metres; surface
  normal angular error in degrees; semantic segmentation pixel accuracy and mean IoU from a confusion
  matrix; edge F1 / IoU from binary counts. Every function takes raw maps (numpy arrays or tensors)
  in the modality's natural units and an optional ``valid`` mask (True = the pixel counts).
  :class:`MapMetrics` accumulates the sufficient statistics over many batches (pixel-weighted for
  depth and normals, per image for PSNR, one confusion matrix for segmentation) so that a whole
  validation split gives one set of numbers, independent of the batch size.
* **retrieval** — Recall@k from a (Q, Q) similarity matrix whose diagonal holds each query's match.
  Ties are scored by their expectation under a random tie order, so a constant embedding (a trivial
  baseline) gets exactly the chance rate k / pool instead of 1 or 0; :func:`pooled_recall` averages
  it over pools of ``pool`` consecutive samples (the remainder joins the last pool).
* **detection** — mAP (PASCAL VOC style). For each class, the predictions of all images are ranked by
  score; a prediction is a true positive when it overlaps a not yet matched ground-truth box of its
  class in its image with IoU ≥ the threshold (the best-overlapping one), else a false positive. AP
  is the area under the precision–recall curve with VOC's all-point interpolation (precision made
  monotone from the right); mAP is its mean over the classes that have ground-truth boxes. Predictions
  of equal score are one *tie group*: precision and recall are only read after a whole group, so the
  result does not depend on the order of tied predictions — with no scores at all (4M's det text has
  none) AP is precision × recall of the set. Boxes are ``{"class": str, "box": [x0, y0, x1, y1],
  "score": float | None}`` mappings, coordinates in any consistent unit (SynthWorld: [0, 1]).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

ArrayLike = torch.Tensor | np.ndarray


def _t(x: ArrayLike) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x))


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
            assert self.conf is not None  # allocated in __init__ for semseg
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


# ---- retrieval ---------------------------------------------------------------------------------
def recall_at_k(similarity: torch.Tensor | np.ndarray, k: int) -> float:
    """Recall@k of (Q, Q) similarities whose diagonal holds each query's match (expected over ties)."""
    sim = torch.as_tensor(np.asarray(similarity), dtype=torch.float64)
    if sim.ndim != 2 or sim.shape[0] != sim.shape[1]:
        raise ValueError(f"a square similarity matrix is needed (query i matches item i), got {tuple(sim.shape)}")
    true = sim.diagonal()[:, None]
    above = (sim > true).sum(1).double()  # (Q,)
    tied = (sim == true).sum(1).double()  # includes the match itself
    return float(((k - above).clamp(0, None) / tied).clamp(max=1.0).mean())


def pools(n: int, size: int) -> list[slice]:
    """Consecutive pools of ``size`` items covering ``n`` (the remainder joins the last pool)."""
    if n == 0:
        return []
    count = max(1, n // size)
    edges = [i * size for i in range(count)] + [n]
    return [slice(a, b) for a, b in itertools.pairwise(edges)]


def pooled_recall(queries: torch.Tensor, gallery: torch.Tensor, ks: Sequence[int], pool: int) -> dict[str, float]:
    """Recall@k (per ``ks``) of unit-norm (N, E) queries against their (N, E) gallery, averaged over pools."""
    out = {f"r@{k}": 0.0 for k in ks}
    n = queries.shape[0]
    for part in pools(n, pool):
        sim = queries[part] @ gallery[part].T
        for k in ks:
            out[f"r@{k}"] += recall_at_k(sim, k) * (part.stop - part.start) / n
    return out if n else {f"r@{k}": math.nan for k in ks}


# ---- detection ---------------------------------------------------------------------------------
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
    for _, group in itertools.groupby(ranked, key=lambda item: _score(item[1])):
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
