"""4M-21's ``metadata`` and ``color_palette`` modalities, computed exactly from SynthWorld's maps.

Key names follow 4M-21's metadata vocabulary (its ``MetadataTransform`` id table), restricted to the
keys that mean something in SynthWorld; values use 4M-21's units so its binning ranges apply
(e.g. brightness 0–255, walkability 0–1, occlusion_score typically 0–0.25). Formulas, with
``L = 0.299 R + 0.587 G + 0.114 B`` on 0–255 RGB:

=========================  ==========================================================================
brightness                 mean of L
contrast                   standard deviation of L (RMS contrast)
saturation                 mean HSV saturation ``255 · (max − min) / max`` over pixels (0 where max = 0)
colorfulness               Hasler–Süsstrunk: ``σ_rgyb + 0.3 μ_rgyb`` with rg = R − G, yb = (R + G)/2 − B
entropy                    Shannon entropy in bits of the 256-bin histogram of ``round(L)``
walkability                fraction of pixels labelled floor
objectness                 fraction of pixels covered by objects (instance > 0)
occlusion_score            fraction of pixels on occlusion edges
geometric_complexity       spherical variance of the valid normals: ``1 − ‖mean unit normal‖``
semantic_diversity         number of distinct semantic classes in the image (sky, floor, wall count)
n_coco_instances           number of visible objects (entries of ``det``)
coco_instance_diversity    number of distinct shape classes among the visible objects
original_width / _height   image size in pixels
caption_n_chars / _words / _sentences   length of the caption
=========================  ==========================================================================

``color_palette`` holds up to 7 dominant colours: Pillow's (deterministic) fast-octree quantisation of
the RGB image into 7 colours, sorted by pixel share, dropping colours under 1 % of the pixels. Octree
quantisation keeps small saturated regions (the objects) as their own entries, where median cut
would spend every entry on shades of the floor.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from omnimask.data.synthworld.config import FLOOR

#: The keys of :func:`compute_metadata`, in a fixed order.
METADATA_KEYS: tuple[str, ...] = (
    "original_width",
    "original_height",
    "caption_n_chars",
    "caption_n_words",
    "caption_n_sentences",
    "n_coco_instances",
    "coco_instance_diversity",
    "colorfulness",
    "brightness",
    "contrast",
    "saturation",
    "entropy",
    "walkability",
    "objectness",
    "semantic_diversity",
    "geometric_complexity",
    "occlusion_score",
)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """L = 0.299 R + 0.587 G + 0.114 B of an (H, W, 3) image (0–255), float64 (H, W)."""
    rgb = rgb.astype(np.float64)
    return 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]


def colorfulness(rgb: np.ndarray) -> float:
    """Hasler–Süsstrunk colourfulness of an (H, W, 3) image (0–255)."""
    r, g, b = (rgb[..., c].astype(np.float64) for c in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def entropy(lum: np.ndarray) -> float:
    """Shannon entropy (bits) of the 256-bin histogram of ``round(lum)``, lum (H, W) in 0–255."""
    hist = np.bincount(np.rint(lum).astype(np.int64).ravel(), minlength=256)
    p = hist[hist > 0] / hist.sum()
    return float(-(p * np.log2(p)).sum())


#: The metadata keys that need nothing but the picture (what ``omnimask label`` computes for a photo).
IMAGE_KEYS: tuple[str, ...] = ("original_width", "original_height", "colorfulness", "brightness", "contrast",
                               "saturation", "entropy")


def image_metadata(rgb: np.ndarray, width: int, height: int) -> dict[str, float | int]:
    """The :data:`IMAGE_KEYS` of an (H, W, 3) uint8 image whose original size was ``width`` × ``height``."""
    rgb = rgb.astype(np.float64)
    lum = luminance(rgb)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    high, low = np.maximum(np.maximum(r, g), b), np.minimum(np.minimum(r, g), b)  # short-axis max is slow
    saturation = np.where(high > 0, 255.0 * (high - low) / np.maximum(high, 1.0), 0.0)
    return {
        "original_width": int(width),
        "original_height": int(height),
        "colorfulness": colorfulness(rgb),
        "brightness": float(lum.mean()),
        "contrast": float(lum.std()),
        "saturation": float(saturation.mean()),
        "entropy": entropy(lum),
    }


def compute_metadata(maps: dict, det: list[dict], caption: str) -> dict[str, float | int]:
    """The metadata dict (keys :data:`METADATA_KEYS`) of one rendered sample.

    Args:
        maps: ``rgb`` (H, W, 3) uint8, ``depth`` (H, W), ``normal`` (H, W, 3), ``semseg`` (H, W),
            ``instance`` (H, W) and ``edges`` (H, W) bool.
        det: detection records of the visible objects.
        caption: the sample's caption.
    """
    valid = maps["depth"] > 0
    mean_normal = maps["normal"][valid].astype(np.float64).mean(axis=0) if valid.any() else np.zeros(3)
    sentences = [s for s in caption.replace("!", ".").replace("?", ".").split(".") if s.strip()]
    semseg = maps["semseg"]
    h, w = semseg.shape
    n = h * w
    classes = np.bincount(semseg.ravel())
    image = image_metadata(maps["rgb"], int(w), int(h))
    return {
        "original_width": image["original_width"],
        "original_height": image["original_height"],
        "caption_n_chars": len(caption),
        "caption_n_words": len(caption.split()),
        "caption_n_sentences": len(sentences),
        "n_coco_instances": len(det),
        "coco_instance_diversity": len({d["class"] for d in det}),
        **{k: image[k] for k in IMAGE_KEYS[2:]},
        "walkability": int(classes[FLOOR]) / n if len(classes) > FLOOR else 0.0,
        "objectness": int(np.count_nonzero(maps["instance"])) / n,
        "semantic_diversity": int(np.count_nonzero(classes)),
        "geometric_complexity": float(1.0 - np.linalg.norm(mean_normal)) if valid.any() else 0.0,
        "occlusion_score": int(np.count_nonzero(maps["edges"])) / n,
    }


def color_palette(rgb: np.ndarray, max_colors: int = 7, min_fraction: float = 0.01) -> dict[str, list]:
    """Dominant colours of an (H, W, 3) uint8 image: ``{"colors": [[r, g, b], ...], "fractions": [...]}``."""
    quantized = Image.fromarray(rgb).quantize(
        colors=max_colors, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE
    )
    flat = quantized.getpalette()
    assert flat is not None  # quantize() returns a "P" image, which always has a palette
    palette = np.asarray(flat[: 3 * max_colors], dtype=np.int64).reshape(-1, 3)
    counts = np.bincount(np.asarray(quantized).ravel(), minlength=len(palette))[: len(palette)]
    order = np.argsort(-counts, kind="stable")
    total = counts.sum()
    keep = [i for i in order if counts[i] / total >= min_fraction]
    return {
        "colors": [[int(c) for c in palette[i]] for i in keep],
        "fractions": [round(float(counts[i] / total), 4) for i in keep],
    }
