"""Retrieval metrics of the evaluation: Recall@k of embedding pairs, and the caption→RGB "CLIP-score" analogue.

4M-21 retrieves across modalities through *predicted* global embeddings: each query and each gallery
item is turned into a global embedding (e.g. ``tok_clip_global``) by the model from its own
modality, and items are ranked by cosine similarity. :class:`RetrievalMetric` scores such pairs;
:class:`ClipScoreMetric` measures text-to-image generation by how often a frozen image–text model
(MiniCLIP) finds an image's own caption among the captions of its pool (and the mean image–caption
cosine, a CLIP score).

Both score with :func:`omnimask.metrics.pooled_recall`: ties count at their expectation under a random
tie order (a constant embedding gets exactly the chance rate k / pool), items are grouped in pools of
``pool`` consecutive samples (the remainder joins the last pool), and query i's match is gallery item i.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from omnimask.metrics import pooled_recall


def _unit(rows: Sequence[Any]) -> torch.Tensor:
    return F.normalize(torch.as_tensor(np.stack([np.asarray(r, np.float32) for r in rows])), dim=-1)


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
