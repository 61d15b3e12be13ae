"""One picture per modality value, by SynthWorld role, for the demo's figures.

Maps are colourised as in the SynthWorld preview (:mod:`omnimask.data.synthworld.preview`): depth
with viridis on inverse depth, normals as RGB, semantic classes with
:data:`~omnimask.data.synthworld.preview.SEMANTIC_PALETTE`, edges black on white; other feature
maps through their first three principal components. Boxes are drawn on an RGB image, captions and
metadata written into the cell, colour palettes shown as chips, global embeddings as a square of
viridis-coloured values. The same functions picture ground truth (raw SynthWorld values) and generated values
(decoded through the tokenizers), so the two look alike side by side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from omnimask import viz
from omnimask.data.synthworld.config import SEMANTIC_CLASSES
from omnimask.data.synthworld.preview import SEMANTIC_PALETTE
from omnimask.demo.layout import text as text_block
from omnimask.generation.render import Decoded

#: Metadata keys a picture shows (all keys only when none of these is there).
METADATA_FIRST: tuple[str, ...] = ("brightness", "n_coco_instances", "contrast", "colorfulness", "walkability",
                                   "objectness")
#: Short names of metadata keys in pictures.
METADATA_NAMES: dict[str, str] = {"n_coco_instances": "objects", "colorfulness": "colourful."}
#: Grey background where a picture has nothing to show (no base image for boxes).
BLANK = (236, 236, 236)


def _array(raw: Any) -> np.ndarray:
    """A map as a NumPy array, channels last ((C, H, W) with H = W ≠ C or C in (1, 3) is moved)."""
    arr = raw.detach().cpu().numpy() if isinstance(raw, torch.Tensor) else np.asarray(raw)
    if arr.ndim == 3 and arr.shape[-1] not in (1, 3) and (
        arr.shape[0] in (1, 3) or (arr.shape[1] == arr.shape[2] != arr.shape[0])
    ):
        arr = arr.transpose(1, 2, 0)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    return arr


def map_picture(role: str, raw: Any) -> np.ndarray:
    """A raw map of ``role`` (``rgb``, ``depth``, ``normal``, ``semseg``, ``edges``, other) → (H, W, 3) uint8."""
    arr = _array(raw)
    if role in ("rgb", "tok_rgb"):
        if arr.dtype != np.uint8:
            scale = 255.0 if float(np.nanmax(arr, initial=0)) <= 1.0 else 1.0
            arr = (np.clip(arr * scale, 0, 255) + 0.5).astype(np.uint8)
        return arr
    if role == "depth":
        return viz.colorize_depth(arr.astype(np.float32))
    if role == "normal":
        return viz.colorize_normals(arr.astype(np.float32))
    if role == "semseg":
        return viz.colorize_labels(arr, SEMANTIC_PALETTE)
    if role == "edges":
        return np.where(arr[..., None] > 0, 0, 255).astype(np.uint8).repeat(3, axis=-1)
    if arr.ndim == 3 and arr.shape[-1] == 3 and arr.dtype == np.uint8:
        return arr
    if arr.ndim == 3:
        return viz.colorize_features(arr)
    if np.issubdtype(arr.dtype, np.floating):
        lo, hi = np.nanpercentile(arr, [1, 99])
        return viz.colormap((arr - lo) / max(hi - lo, 1e-9))
    return viz.colorize_labels(arr)


def semantic_legend(picture: Image.Image) -> Image.Image:
    """``picture`` with the legend of the SynthWorld semantic classes underneath."""
    return viz.stack([picture, viz.legend(SEMANTIC_CLASSES, SEMANTIC_PALETTE, picture.width - 8)])


def text_picture(text: str, cell: int, size: int | None = None) -> Image.Image:
    """``text`` wrapped into a ``cell``² white square (cut off at the bottom when too long)."""
    size = size or max(9, cell // 13)
    block = text_block(text, cell, size)
    out = Image.new("RGB", (cell, cell), (255, 255, 255))
    out.paste(block.crop((0, 0, cell, min(cell, block.height))), (0, 0))
    return out


def boxes_picture(boxes: Sequence[Mapping[str, Any]], base: Any, cell: int) -> Image.Image:
    """Boxes (``{"class", "box": [x0, y0, x1, y1]}`` in [0, 1]) drawn on ``base`` (or grey) at ``cell``²."""
    canvas = base if base is not None else np.full((cell, cell, 3), BLANK, np.uint8)
    colours = [viz.LABEL_PALETTE[1 + i % (len(viz.LABEL_PALETTE) - 1)] for i in range(len(boxes))]
    labels = [str(b.get("class", "")) for b in boxes]
    return viz.draw_boxes(canvas, [list(b["box"]) for b in boxes], labels, colours, cell)


def palette_picture(value: Any, cell: int) -> Image.Image:
    """A colour palette (a list of RGB triples, or ``{"colors", "fractions"}``) as chips in a cell."""
    colours = value.get("colors", []) if isinstance(value, Mapping) else list(value or [])
    fractions = value.get("fractions") if isinstance(value, Mapping) else None
    if not colours:
        return text_picture("(empty palette)", cell)
    return viz.swatches(colours, fractions, cell, cell)


def metadata_text(meta: Mapping[str, Any]) -> str:
    """Metadata values as ``key value; …``: those of :data:`METADATA_FIRST`, or all when none is there."""
    keys = [k for k in METADATA_FIRST if k in meta] or sorted(meta)
    parts = [f"{METADATA_NAMES.get(k, k.replace('_', ' '))} {float(meta[k]):.3g}" for k in keys]
    return "; ".join(parts) or "(no metadata)"


def embedding_picture(vector: Any, cell: int) -> Image.Image:
    """A global embedding (any shape, flattened) as a square of viridis-coloured values."""
    v = np.asarray(vector, dtype=np.float64).reshape(-1)
    side = int(np.ceil(np.sqrt(max(v.size, 1))))
    padded = np.full(side * side, np.nan)
    padded[: v.size] = v
    lo, hi = (np.nanmin(v), np.nanmax(v)) if v.size else (0.0, 1.0)
    colours = viz.colormap((padded.reshape(side, side) - lo) / max(hi - lo, 1e-9))
    colours[np.isnan(padded.reshape(side, side))] = 255
    return viz.to_image(colours, cell)


def role_picture(role: str, value: Any, cell: int, base: Any = None) -> Image.Image:
    """Picture of a raw ``value`` of ``role`` (ground truth, or a decoded generation) at ``cell``²."""
    if role == "det":
        return boxes_picture(list(value or []), base, cell)
    if role == "caption":
        return text_picture(str(value), cell)
    if role == "color_palette":
        return palette_picture(value, cell)
    if role == "metadata":
        return text_picture(metadata_text(value) if isinstance(value, Mapping) else str(value), cell)
    if role == "global":
        return embedding_picture(value, cell)
    return viz.to_image(map_picture(role, value), cell)


def decoded_picture(role: str, decoded: Decoded, cell: int, base: Any = None) -> Image.Image:
    """Picture of a generated modality (:class:`~omnimask.generation.render.Decoded`) by role.

    Without a tokenizer a map is shown as its token ids and a sequence or embedding as id text.
    """
    value = decoded.value
    if role in ("det", "color_palette", "metadata"):
        ids = isinstance(value, list) and bool(value) and all(isinstance(v, int) for v in value)
        readable = isinstance(value, (list, dict)) and not ids
    elif role == "caption":
        readable = isinstance(value, str)
    else:
        readable = value is not None and not isinstance(value, list)
    if readable:
        return role_picture(role, value, cell, base)
    if decoded.picture is not None:
        return viz.to_image(decoded.picture, cell)
    return text_picture(decoded.text or "", cell)
