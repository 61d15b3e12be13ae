"""Labelers for a user's photos that need no downloaded weights: exact formulas and classical vision.

* ``metadata`` — 4M-21's image metadata that the picture alone defines (brightness, contrast,
  saturation, colourfulness, entropy, original width / height;
  :func:`omnimask.data.synthworld.metadata.image_metadata`). The other 4M-21 keys need a network's
  output (``walkability``, ``objectness``, ``n_coco_instances`` … from semseg / instances / boxes,
  ``caption_n_*`` from a caption) and are left out rather than guessed.
* ``color_palette`` — the dominant colours (4M-21's palette; :func:`~omnimask.data.synthworld.metadata.color_palette`).
* ``canny`` → ``edges`` — OpenCV's Canny on the grey image, thresholds 0.66× / 1.33× its median
  (the usual automatic choice; 4M's edge modality is Canny on RGB).
* ``faces`` → ``det`` — OpenCV's frontal-face Haar cascade, whose trained weights ship inside the
  ``opencv-python-headless`` wheel (4.x): real boxes of class ``face`` for the ``det`` modality,
  found on the sharper :attr:`~omnimask.images.Crop.detail` square.

OpenCV comes with the ``images`` extra (``pip install 'omnimask[images]'``). MiniCLIP's features
(``tok_clip``, ``tok_clip_global``) need no labeler: pre-tokenizing computes them from the RGB.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from omnimask.config import ConfigError
from omnimask.data.synthworld.metadata import color_palette, image_metadata
from omnimask.images import Crop


def _cv2() -> Any:
    try:
        import cv2
    except ImportError:
        raise ConfigError("this labeler needs OpenCV: pip install 'omnimask[images]' "
                          "(opencv-python-headless 4.x, whose wheel carries the Haar cascades)") from None
    return cv2


class MetadataLabeler:
    """``metadata``: the 4M-21 keys a picture defines (see the module docstring)."""

    name: str = "metadata"
    writes: tuple[str, ...] = ("metadata",)
    standin: bool = False

    def label(self, crops: Sequence[Crop]) -> list[dict[str, Any]]:
        return [{"metadata": image_metadata(c.rgb, c.width, c.height)} for c in crops]


class PaletteLabeler:
    """``color_palette``: up to 7 dominant colours with their pixel shares."""

    name: str = "color_palette"
    writes: tuple[str, ...] = ("color_palette",)
    standin: bool = False

    def label(self, crops: Sequence[Crop]) -> list[dict[str, Any]]:
        return [{"color_palette": color_palette(c.rgb)} for c in crops]


def canny_edges(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 → (H, W) bool Canny edges, thresholds from the grey image's median."""
    cv2 = _cv2()
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    median = float(np.median(grey))
    low, high = int(max(0, 0.66 * median)), int(min(255, 1.33 * median))
    return cv2.Canny(grey, low, max(high, low + 1)) > 0


class CannyLabeler:
    """``edges``: Canny edges of the dataset image."""

    name: str = "canny"
    writes: tuple[str, ...] = ("edges",)
    standin: bool = False

    def label(self, crops: Sequence[Crop]) -> list[dict[str, Any]]:
        return [{"edges": canny_edges(c.rgb)} for c in crops]


class FaceLabeler:
    """``det``: boxes of frontal faces (OpenCV's Haar cascade from its wheel), class ``face``.

    Args:
        min_size: smallest face side, as a fraction of the crop side.
    """

    name: str = "faces"
    writes: tuple[str, ...] = ("det",)
    standin: bool = False

    def __init__(self, min_size: float = 0.08) -> None:
        cv2 = _cv2()
        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise ConfigError(f"OpenCV's face cascade is missing ({path}); install opencv-python-headless 4.x "
                              "(5.x wheels no longer carry the Haar cascades)")
        self.min_size = min_size

    def boxes(self, rgb: np.ndarray) -> list[list[float]]:
        """Face boxes of an (S, S, 3) uint8 image as [x0, y0, x1, y1] fractions of its side."""
        cv2 = _cv2()
        grey = cv2.equalizeHist(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY))
        side = grey.shape[0]
        least = max(8, int(self.min_size * side))
        found = self.cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(least, least))
        return [[x / side, y / side, (x + w) / side, (y + h) / side] for x, y, w, h in np.asarray(found).reshape(-1, 4)]

    def label(self, crops: Sequence[Crop]) -> list[dict[str, Any]]:
        return [{"det": [{"class": "face", "box": [round(v, 4) for v in box]} for box in self.boxes(c.detail)]}
                for c in crops]
