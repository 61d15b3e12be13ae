"""Measuring and showing a map tokenizer: round trips raw → ids → raw on a set of maps.

:func:`evaluate_tokenizer` runs the full ``tokenize`` / ``detokenize`` round trip (exactly what the
4M model's targets go through) over raw maps and reports the reconstruction metrics of the map kind
(:class:`~omnimask.metrics.MapMetrics`) plus codebook usage and perplexity of
the ids. :func:`reconstruction_grid` draws inputs next to their reconstructions as a PNG.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from PIL import Image

from omnimask import viz
from omnimask.metrics import MapMetrics
from omnimask.tokenizers.base import ModalityTokenizer
from omnimask.tokenizers.quantizers import codebook_stats
from omnimask.training.tokenizers.features import FEATURE_KINDS, feature_metrics

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


def round_trip(tokenizer: ModalityTokenizer, maps: np.ndarray,
               batch_size: int = 128) -> tuple[torch.Tensor, np.ndarray]:
    """Ids (S, N) and reconstructions (S, H, W[, C]) of raw maps (S, H, W[, C]), in batches."""
    ids, recon = [], []
    for start in range(0, len(maps), batch_size):
        batch_ids = tokenizer.tokenize(maps[start : start + batch_size]).cpu()
        ids.append(batch_ids)
        recon.append(tokenizer.detokenize(batch_ids).cpu().numpy())
    return torch.cat(ids), np.concatenate(recon)


def evaluate_tokenizer(tokenizer: ModalityTokenizer, maps: np.ndarray, kind: str, batch_size: int = 128,
                       text: torch.Tensor | None = None) -> dict[str, Any]:
    """Reconstruction metrics of ``kind`` (see :class:`MapMetrics`; MiniCLIP features:
    :func:`~omnimask.training.tokenizers.features.feature_metrics`, with caption retrieval when the
    captions' ``text`` embeddings (S, E) are given), codebook usage and perplexity on ``maps``, and the
    round-trip throughput (maps/s)."""
    was_training = tokenizer.training
    tokenizer.eval()
    start = time.perf_counter()
    ids, recon = round_trip(tokenizer, maps, batch_size)
    seconds = time.perf_counter() - start
    tokenizer.train(was_training)
    if kind in FEATURE_KINDS:
        quality = feature_metrics(recon, maps, text)
    else:
        metrics = MapMetrics(kind, num_classes=tokenizer.model.num_labels or 0)
        metrics.update(recon, maps)
        quality = metrics.compute()
    stats = codebook_stats(ids, tokenizer.vocab_size)
    return {
        **quality,
        "codebook_usage": stats.usage,
        "perplexity": stats.perplexity,
        "samples": len(maps),
        "round_trips_per_s": len(maps) / max(seconds, 1e-9),
    }


def depth_scale(depth: np.ndarray) -> tuple[float, float]:
    """Inverse-depth range (1st–99th percentile of valid pixels) that :func:`colorize` maps to colours."""
    inv = 1.0 / depth[depth > 0].astype(np.float64)
    return tuple(np.percentile(inv, [1, 99])) if inv.size else (0.0, 1.0)


def colorize(kind: str, raw: np.ndarray, scale: tuple[float, float] | None = None) -> np.ndarray:
    """One raw map → (H, W, 3) uint8 for pictures.

    Depth is viridis on inverse depth (near bright), over ``scale`` (default: its own
    :func:`depth_scale`; pass the input's to show a reconstruction on the same colours), sky black.
    """
    if kind == "rgb":
        return np.asarray(raw, np.uint8)
    if kind == "depth":
        depth = np.asarray(raw, np.float64)
        lo, hi = scale or depth_scale(depth)
        out = viz.colormap((1.0 / np.maximum(depth, 1e-6) - lo) / max(hi - lo, 1e-12))
        out[depth <= 0] = 0
        return out
    if kind == "normal":
        return viz.colorize_normals(np.asarray(raw))
    if kind == "semseg":
        return viz.colorize_labels(np.asarray(raw))
    if kind == "edges":
        return np.repeat((np.asarray(raw) > 0).astype(np.uint8)[..., None] * 255, 3, axis=-1)
    raise KeyError(f"no colouriser for map {kind!r}")


def reconstruction_grid(kind: str, maps: np.ndarray, recon: np.ndarray, title: str = "",
                        cell: int = 128) -> Image.Image:
    """Rows of (input, reconstruction) pictures, each pair on the same colour scale; ``title`` below."""
    rows = []
    for m, r in zip(maps, recon):
        scale = depth_scale(np.asarray(m)) if kind == "depth" else None
        rows.append([colorize(kind, m, scale), colorize(kind, r, scale)])
    picture = viz.grid(rows, titles=[f"{kind} input", "reconstruction"], cell=cell)
    return viz.stack([picture, viz.text_block(title, picture.width)]) if title else picture
