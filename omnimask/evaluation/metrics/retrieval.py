"""Retrieval metrics: Recall@k from a similarity matrix, and the caption→RGB "CLIP-score" analogue.

4M-21 retrieves across modalities through *predicted* global embeddings: each query and each gallery
item is turned into a global embedding (e.g. ``tok_clip_global``) by the model from its own
modality, and items are ranked by cosine similarity. :class:`RetrievalMetric` scores such pairs;
:class:`ClipScoreMetric` measures text-to-image generation by how often a frozen image–text model
(MiniCLIP) finds an image's own caption among the captions of its pool (and the mean image–caption
cosine, a CLIP score).

Ties are scored by their expectation under a random tie order, so a constant embedding (a trivial
baseline) gets exactly the chance rate k / pool instead of 1 or 0. Items are grouped in pools of
``pool`` consecutive samples (the remainder joins the last pool); query i's match is gallery item i.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


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


def _unit(rows: Sequence[Any]) -> torch.Tensor:
    return F.normalize(torch.as_tensor(np.stack([np.asarray(r, np.float32) for r in rows])), dim=-1)


def pooled_recall(queries: torch.Tensor, gallery: torch.Tensor, ks: Sequence[int], pool: int) -> dict[str, float]:
    """Recall@k (per ``ks``) of unit-norm (N, E) queries against their (N, E) gallery, averaged over pools."""
    out = {f"r@{k}": 0.0 for k in ks}
    n = queries.shape[0]
    for part in pools(n, pool):
        sim = queries[part] @ gallery[part].T
        for k in ks:
            out[f"r@{k}"] += recall_at_k(sim, k) * (part.stop - part.start) / n
    return out if n else {f"r@{k}": math.nan for k in ks}


class RetrievalMetric:
    """Recall@k of queries against their gallery; a prediction is a (query, gallery) embedding pair,
    or one embedding used on both sides (ground truth, tokenizer reconstruction, constant baseline)."""

    def __init__(self, ks: Sequence[int] = (1, 5), pool: int = 100) -> None:
        self.ks, self.pool = tuple(ks), pool
        self.queries: list[Any] = []
        self.gallery: list[Any] = []

    def update(self, preds: Sequence[Any], truths: Sequence[Any] | None = None) -> None:
        for p in preds:
            q, g = p if isinstance(p, tuple) else (p, p)
            self.queries.append(q)
            self.gallery.append(g)

    def compute(self) -> dict[str, Any]:
        if not self.queries:
            return {f"r@{k}": math.nan for k in self.ks}
        out: dict[str, Any] = pooled_recall(_unit(self.queries), _unit(self.gallery), self.ks, self.pool)
        out["pool"] = min(self.pool, len(self.queries))
        return out


class ClipScoreMetric:
    """Text→image generation judged by an image–text model.

    ``update(images, captions)``: generated (H, W, 3) uint8 images and the captions they came from.
    ``r@1``: how often an image's embedding ranks its own caption first among the captions of its pool;
    ``clip_score``: 100 × mean cosine of image and own caption.

    Args:
        labeler: anything with ``global_embedding(rgb (B, H, W, 3) uint8) -> (B, E)`` and
            ``encode_text(list[str]) -> (B, E)`` in one space (MiniCLIP).
    """

    def __init__(self, labeler: Any, ks: Sequence[int] = (1,), pool: int = 100) -> None:
        self.labeler, self.ks, self.pool = labeler, tuple(ks), pool
        self.images: list[torch.Tensor] = []
        self.texts: list[torch.Tensor] = []

    def update(self, preds: Sequence[np.ndarray], truths: Sequence[str]) -> None:
        if len(preds) != len(truths):
            raise ValueError(f"{len(preds)} images for {len(truths)} captions")
        if len(preds):
            self.images.append(torch.as_tensor(self.labeler.global_embedding(np.stack(preds))).float())
            self.texts.append(torch.as_tensor(self.labeler.encode_text(list(truths))).float())

    def compute(self) -> dict[str, float]:
        if not self.images:
            return {**{f"r@{k}": math.nan for k in self.ks}, "clip_score": math.nan}
        img = F.normalize(torch.cat(self.images), dim=-1)
        txt = F.normalize(torch.cat(self.texts), dim=-1)
        out = pooled_recall(img, txt, self.ks, self.pool)
        out["clip_score"] = float(100 * (img * txt).sum(-1).mean())
        out["pool"] = min(self.pool, img.shape[0])
        return out
