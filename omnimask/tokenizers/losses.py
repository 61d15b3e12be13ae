"""Reconstruction losses of tokenizer training, one per kind of modality (4M section 3, appendix).

* RGB: MSE, optionally plus a perceptual loss (:class:`PerceptualLoss`, features of a frozen network
  the user provides from a local checkpoint — nothing is downloaded);
* depth (robust per-image normalised): smooth-L1, ignoring pixels without a valid depth;
* surface normals: MSE or cosine (1 − cos between predicted and true vectors);
* semantic segmentation: cross-entropy of the decoder's class logits;
* edges: binary cross-entropy of logits;
* feature maps / global features / poses: smooth-L1, MSE or cosine.

Every loss takes ``pred`` (B, C, *S), ``target`` (B, C, *S) — class ids (B, *S) for cross-entropy —
and an optional ``valid`` (B, *S) bool mask (True = the pixel counts), and returns the mean over
valid positions (a scalar).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, cast

import torch
import torch.nn.functional as F
from torch import nn

LossName = Literal["mse", "l1", "smooth_l1", "cosine", "cross_entropy", "bce"]

#: Default reconstruction loss per modality kind (a tokenizer config may override it).
MODALITY_LOSSES: dict[str, LossName] = {
    "rgb": "mse",
    "depth": "smooth_l1",
    "normal": "mse",
    "semseg": "cross_entropy",
    "edges": "bce",
    "feature_map": "smooth_l1",
    "global_feature": "mse",
    "pose": "mse",
}


def _masked_mean(per_position: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """Mean of (B, *S) values over positions where ``valid`` (B, *S) is True (all when None)."""
    if valid is None:
        return per_position.mean()
    w = valid.to(per_position.dtype)
    return (per_position * w).sum() / w.sum().clamp_min(1.0)


def _per_position(name: str, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if name == "mse":
        return (pred - target).square().mean(dim=1)
    if name == "l1":
        return (pred - target).abs().mean(dim=1)
    if name == "smooth_l1":
        return F.smooth_l1_loss(pred, target, reduction="none").mean(dim=1)
    if name == "cosine":
        return 1 - F.cosine_similarity(pred, target, dim=1, eps=1e-6)
    if name == "bce":
        return F.binary_cross_entropy_with_logits(pred, target.to(pred.dtype), reduction="none").mean(dim=1)
    if name == "cross_entropy":
        return F.cross_entropy(pred, target.long(), reduction="none")
    raise ValueError(f"unknown reconstruction loss {name!r}; known: mse, l1, smooth_l1, cosine, cross_entropy, bce")


def reconstruction_loss(
    name: str, pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """Scalar loss ``name`` between ``pred`` (B, C, *S) and ``target`` (see module docstring)."""
    if name == "cross_entropy":
        if target.shape != pred.shape[:1] + pred.shape[2:]:
            raise ValueError(f"cross-entropy wants class ids {pred.shape[:1] + pred.shape[2:]}, got {target.shape}")
    elif target.shape != pred.shape:
        raise ValueError(f"{name}: prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    return _masked_mean(
        _per_position(name, pred.float(), target.float() if target.is_floating_point() else target), valid
    )


class PerceptualLoss(nn.Module):
    """Distance between normalised feature maps of a frozen network (LPIPS-style, unweighted).

    Args:
        features: maps an image batch (B, 3, H, W) to a sequence of feature maps (B, C_l, H_l, W_l);
            e.g. a VGG or a ViT loaded by the user from a local checkpoint. It is frozen here.
        weights: optional per-layer weights (default 1 each).

    ``forward(pred, target)`` = Σ_l w_l · mean((f̂_l(pred) − f̂_l(target))²), f̂ = channel-normalised features.
    """

    def __init__(
        self, features: Callable[[torch.Tensor], Sequence[torch.Tensor]], weights: Sequence[float] | None = None
    ) -> None:
        super().__init__()
        self.features = features
        if isinstance(features, nn.Module):
            features.requires_grad_(False).eval()
        self.weights = list(weights) if weights is not None else None

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """pred, target (B, 3, H, W) → scalar."""
        with torch.no_grad():
            target_feats = [F.normalize(f, dim=1, eps=1e-10) for f in self.features(target)]
        pred_feats = [F.normalize(f, dim=1, eps=1e-10) for f in self.features(pred)]
        weights = self.weights or [1.0] * len(pred_feats)
        if len(weights) != len(pred_feats):
            raise ValueError(f"{len(weights)} layer weights for {len(pred_feats)} feature maps")
        total = sum(w * (p - t).square().mean() for w, p, t in zip(weights, pred_feats, target_feats))
        return cast(torch.Tensor, total)  # a tensor once ``features`` gives a map (a sum of nothing is the int 0)
