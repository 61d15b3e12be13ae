"""Raw image-like maps ↔ float feature maps that an image tokenizer quantises.

Each entry turns one raw modality of a sample (as SynthWorld and the labelers write it) into a
(C, H, W) float32 array, and turns a (C, H, W) reconstruction back into the raw form:

* ``rgb``: (H, W, 3) uint8 → [0, 1];
* ``depth``: (H, W) metres (0 = no surface) → log-depth scaled to [0, 1] over [``DEPTH_MIN``, ``DEPTH_MAX``];
  no-surface pixels map to 1 (as far as it gets) — the ``depth_log`` normalisation of the tokenizer
  cards (:func:`~omnimask.tokenizers.card.log_depth`), so both tokenizers see the same depth values;
* ``normal``: (H, W, 3) unit vectors in [-1, 1] → as is (C = 3);
* ``semseg``: (H, W) class ids → one-hot (C = number of classes); back by argmax;
* ``edges``: (H, W) bool / {0, 1} → (1, H, W) float; back by a 0.5 threshold.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch

from omnimask.tokenizers.card import InputSpec, exp_depth, log_depth

DEPTH_MIN, DEPTH_MAX = InputSpec().depth_range


def _rgb_in(x: np.ndarray, _: int) -> np.ndarray:
    if x.dtype != np.uint8 or x.ndim != 3 or x.shape[2] != 3:
        raise ValueError(f"rgb must be an (H, W, 3) uint8 image, got {x.dtype} {x.shape}")
    return np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32) / 255.0


def _rgb_out(f: np.ndarray, _: int) -> np.ndarray:
    return (np.clip(f.transpose(1, 2, 0), 0, 1) * 255 + 0.5).astype(np.uint8)


def _depth_in(x: np.ndarray, _: int) -> np.ndarray:
    if x.ndim != 2 or not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"depth must be an (H, W) float map in metres, got {x.dtype} {x.shape}")
    return log_depth(torch.from_numpy(np.ascontiguousarray(x)), (DEPTH_MIN, DEPTH_MAX)).numpy()[None]


def _depth_out(f: np.ndarray, _: int) -> np.ndarray:
    return exp_depth(torch.from_numpy(np.ascontiguousarray(f[0])), (DEPTH_MIN, DEPTH_MAX)).numpy()


def _normal_in(x: np.ndarray, _: int) -> np.ndarray:
    if x.ndim != 3 or x.shape[2] != 3:
        raise ValueError(f"normal must be an (H, W, 3) map of unit vectors, got {x.shape}")
    return np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32)


def _normal_out(f: np.ndarray, _: int) -> np.ndarray:
    n = f.transpose(1, 2, 0)
    return (n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-6)).astype(np.float32)


def _semseg_in(x: np.ndarray, num_classes: int) -> np.ndarray:
    if x.ndim != 2 or not np.issubdtype(x.dtype, np.integer):
        raise ValueError(f"semseg must be an (H, W) integer class map, got {x.dtype} {x.shape}")
    if x.max(initial=0) >= num_classes:
        raise ValueError(f"semseg holds class {int(x.max())} but only {num_classes} classes are configured")
    return np.eye(num_classes, dtype=np.float32)[x].transpose(2, 0, 1)


def _semseg_out(f: np.ndarray, _: int) -> np.ndarray:
    return f.argmax(0).astype(np.uint8)


def _edges_in(x: np.ndarray, _: int) -> np.ndarray:
    if x.ndim != 2:
        raise ValueError(f"edges must be an (H, W) map, got {x.shape}")
    return (x > 0).astype(np.float32)[None]


def _edges_out(f: np.ndarray, _: int) -> np.ndarray:
    return (f[0] > 0.5).astype(np.uint8)


@dataclasses.dataclass(frozen=True)
class MapFeatures:
    """How one image-like modality becomes tokenizer features and back."""

    to_features: Callable[[np.ndarray, int], np.ndarray]
    from_features: Callable[[np.ndarray, int], np.ndarray]
    channels: Callable[[int], int]


MAP_FEATURES: dict[str, MapFeatures] = {
    "rgb": MapFeatures(_rgb_in, _rgb_out, lambda _: 3),
    "depth": MapFeatures(_depth_in, _depth_out, lambda _: 1),
    "normal": MapFeatures(_normal_in, _normal_out, lambda _: 3),
    "semseg": MapFeatures(_semseg_in, _semseg_out, lambda n: n),
    "edges": MapFeatures(_edges_in, _edges_out, lambda _: 1),
}


def map_features(kind: str) -> MapFeatures:
    try:
        return MAP_FEATURES[kind]
    except KeyError:
        raise KeyError(f"no feature transform for map {kind!r}; known: {sorted(MAP_FEATURES)}") from None
