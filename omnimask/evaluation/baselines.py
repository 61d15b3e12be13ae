"""Trivial baselines of the evaluation table: what a model that ignores its input would score.

Each baseline sees every ground-truth value of the evaluation set (an oracle of the set's
statistics, which only makes the floor higher) and returns one constant prediction per sample:

* depth — the mean valid depth everywhere (sky pixels, 0, are not scored);
* normals — the mean direction of the valid normals, normalised;
* segmentation — the most frequent class everywhere;
* detection — one box of the most frequent class at the mean ground-truth box;
* caption — "N objects: a C S." with the most frequent object count N, colour C and shape S;
* images (caption→RGB) — the mean image;
* global embeddings (retrieval) — the mean embedding, which ranks at chance.

Functions take the list of ground-truth values in the task's prediction format and return the
list of predictions (same length).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from omnimask.evaluation.metrics.captions import NUMBER_WORDS

Baseline = Callable[[Sequence[Any]], list[Any]]


def _constant(value: Any, n: int) -> list[Any]:
    return [value] * n


def mean_depth(truths: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The set's mean valid depth (metres) as a constant map of each ground truth's shape."""
    maps = np.stack([np.asarray(t, np.float32) for t in truths])
    valid = maps > 0
    mean = float(maps[valid].mean()) if valid.any() else 1.0
    return _constant(np.full(maps.shape[1:], mean, np.float32), len(truths))


def mean_normal(truths: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The set's mean valid normal direction (unit length) everywhere."""
    maps = np.stack([np.asarray(t, np.float32) for t in truths])
    valid = (maps != 0).any(-1)
    mean = maps[valid].mean(0) if valid.any() else np.array([0, 0, 1], np.float32)
    mean = mean / max(float(np.linalg.norm(mean)), 1e-12)
    return _constant(np.broadcast_to(mean.astype(np.float32), maps.shape[1:]).copy(), len(truths))


def majority_class(truths: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The set's most frequent class id everywhere."""
    maps = np.stack([np.asarray(t, np.int64) for t in truths])
    majority = int(np.bincount(maps.ravel()).argmax())
    return _constant(np.full(maps.shape[1:], majority, np.int64), len(truths))


def majority_box(truths: Sequence[Sequence[Mapping[str, Any]]]) -> list[list[dict]]:
    """One box per image: the most frequent class at the mean ground-truth box."""
    boxes = [b for image in truths for b in image]
    if not boxes:
        return _constant([], len(truths))
    label = Counter(b["class"] for b in boxes).most_common(1)[0][0]
    mean = np.mean([b["box"] for b in boxes], axis=0).tolist()
    return [[{"class": label, "box": list(mean), "score": None}] for _ in truths]


def majority_caption(truths: Sequence[Sequence[Mapping[str, Any]]]) -> list[str]:
    """A caption stating the most frequent object count, colour and shape of the set."""
    words = {n: w for w, n in NUMBER_WORDS.items() if w not in ("a", "an", "no")}
    count = Counter(len(objects) for objects in truths).most_common(1)[0][0] if truths else 0
    objects = [o for image in truths for o in image]
    if not objects or count == 0:
        return _constant("An empty floor.", len(truths))
    colour = Counter(o["colour"] for o in objects).most_common(1)[0][0]
    shape = Counter(o["class"] for o in objects).most_common(1)[0][0]
    noun = "object" if count == 1 else "objects"
    article = "an" if colour[0] in "aeiou" else "a"
    return _constant(f"{words.get(count, str(count)).capitalize()} {noun}: {article} {colour} {shape}.", len(truths))


def mean_image(truths: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The set's mean (H, W, 3) uint8 image."""
    mean = np.stack([np.asarray(t, np.float32) for t in truths]).mean(0)
    return _constant(np.clip(mean + 0.5, 0, 255).astype(np.uint8), len(truths))


def mean_embedding(truths: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The set's mean global embedding for every sample (retrieval at chance)."""
    return _constant(np.stack([np.asarray(t, np.float32) for t in truths]).mean(0), len(truths))
