"""Whether an image generated from boxes puts its objects inside them (caption + boxes → RGB).

The foreground of an (H, W, 3) uint8 image is every pixel whose colour differs from its row's median
colour by more than :data:`FOREGROUND_THRESHOLD` (summed over the channels, 0–765). SynthWorld's
background is sky and ground, constant or slowly varying along a row, so the row median is the
background where objects cover less than half a row. The score is the share of foreground pixels
that lie inside the union of the given boxes, averaged over images. Measured on 100 scenes of world 1
(the scenes' own RGB against their own boxes): 0.69; against another scene's boxes: 0.27 — so the
ground-truth column is this measure's ceiling and a model that ignores the boxes lands near 0.27.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: Colour distance (sum of |difference| over R, G, B) from the row median that makes a pixel foreground.
FOREGROUND_THRESHOLD = 120
#: Images with fewer foreground pixels than this have no placement to judge (counted, not scored).
MIN_FOREGROUND = 4


def foreground(image: np.ndarray, threshold: float = FOREGROUND_THRESHOLD) -> np.ndarray:
    """(H, W, 3) uint8 → (H, W) bool: pixels far from their row's median colour."""
    pixels = np.asarray(image, dtype=np.float32)
    if pixels.ndim != 3 or pixels.shape[-1] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got shape {pixels.shape}")
    background = np.median(pixels, axis=1, keepdims=True)
    return np.abs(pixels - background).sum(-1) > threshold


def inside_boxes(boxes: Sequence[Mapping[str, Any]], height: int, width: int) -> np.ndarray:
    """(H, W) bool: pixels covered by any box (``box`` = [x0, y0, x1, y1] in [0, 1])."""
    inside = np.zeros((height, width), dtype=bool)
    for b in boxes:
        x0, y0, x1, y1 = b["box"]
        inside[math.floor(y0 * height):math.ceil(y1 * height),
               math.floor(x0 * width):math.ceil(x1 * width)] = True  # fmt: skip
    return inside


class BoxPlacementMetric:
    """``update(images, box_lists)``; ``compute()``: ``in_boxes`` (mean share of each image's foreground
    inside its boxes), ``judged`` (images with a foreground and at least one box) and ``images``."""

    def __init__(self) -> None:
        self.shares: list[float] = []
        self.images = 0

    def update(self, preds: Sequence[np.ndarray], truths: Sequence[Sequence[Mapping[str, Any]]]) -> None:
        if len(preds) != len(truths):
            raise ValueError(f"{len(preds)} images for {len(truths)} box lists")
        for image, boxes in zip(preds, truths):
            self.images += 1
            mask = foreground(image)
            if not boxes or mask.sum() < MIN_FOREGROUND:
                continue
            self.shares.append(float((mask & inside_boxes(boxes, *mask.shape)).sum() / mask.sum()))

    def compute(self) -> dict[str, float]:
        share = float(np.mean(self.shares)) if self.shares else math.nan
        return {"in_boxes": share, "judged": float(len(self.shares)), "images": float(self.images)}
