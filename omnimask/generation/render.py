"""Outputs people can look at: detokenize a generation state, write files, draw one grid.

:func:`decode_state` turns every modality of a state into its raw form through the tokenizers
(maps for image-like tokens, parsed values and text for sequences, uint8 images for pixels).
:func:`write_outputs` writes each modality as ``<name>.png`` (colourised) or ``<name>.txt`` (plus
``<name>.json`` for structured values such as boxes or metadata) and one ``grid.png`` showing
conditions and outputs side by side: maps colourised (:mod:`omnimask.viz`), boxes drawn on the RGB
image, captions and other texts printed underneath.

Colourising dispatches on the raw array, not on modality names: uint8 (H, W, 3) is shown as is,
float (H, W, 3) as normals, float (H, W, C) feature maps by their first three principal components,
float (H, W) as depth, integer (H, W) as labels (0/1 maps as edges).
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from omnimask import viz
from omnimask.batch import Batch, ModalityBatch
from omnimask.modalities import ModalitySpec
from omnimask.tokenizers.entries import SequenceTokenizer, Tokenizer
from omnimask.tokenizers.pixels import denormalise_rgb


@dataclasses.dataclass(frozen=True)
class Decoded:
    """One modality of one sample in raw form: a picture and/or text (and a structured value)."""

    name: str
    picture: np.ndarray | None = None  # (H, W, 3) uint8
    text: str | None = None
    value: Any = None


def colorize(raw: Any) -> np.ndarray:
    """A raw map as an (H, W, 3) uint8 picture (see the module docstring for the rules)."""
    arr = raw.detach().cpu().numpy() if isinstance(raw, torch.Tensor) else np.asarray(raw)
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
        arr = arr.transpose(1, 2, 0)  # channels first -> last
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.dtype == np.uint8 and arr.ndim == 3:
        return arr
    if arr.ndim == 3 and arr.shape[-1] == 3:
        return viz.colorize_normals(arr.astype(np.float32))
    if arr.ndim == 3 and np.issubdtype(arr.dtype, np.floating):
        return viz.colorize_features(arr)
    if arr.ndim == 2 and np.issubdtype(arr.dtype, np.floating):
        return viz.colorize_depth(arr.astype(np.float32))
    if arr.ndim == 2:
        if arr.max(initial=0) <= 1:
            return np.where(arr[..., None] > 0, 0, 255).astype(np.uint8).repeat(3, axis=-1)
        return viz.colorize_labels(arr)
    raise ValueError(f"cannot picture a raw map of shape {arr.shape} and dtype {arr.dtype}")


def decode_modality(name: str, mb: ModalityBatch, spec: ModalitySpec, tokenizer: Tokenizer | None,
                    sample: int = 0) -> Decoded:
    """The raw form of one modality of sample ``sample``."""
    if spec.is_pixels:
        return Decoded(name, picture=denormalise_rgb(mb.tensor[sample].float().cpu().numpy()))
    if spec.is_sequence:
        words = mb.tensor[sample][mb.input_keep[sample] | mb.target_keep[sample]].tolist()
        if tokenizer is None:
            return Decoded(name, text=" ".join(map(str, words)), value=words)
        if not isinstance(tokenizer, SequenceTokenizer):
            raise TypeError(f"{name}: a sequence modality decodes through a SequenceTokenizer, got {type(tokenizer)}")
        return Decoded(name, text=tokenizer.decode_text(words), value=tokenizer.detokenize([words])[0])
    ids = mb.tensor[sample : sample + 1].long()
    if tokenizer is None:
        if spec.grid is None:
            return Decoded(name, text=" ".join(map(str, ids[0].tolist())))
        return Decoded(name, picture=colorize(ids.reshape(spec.grid).numpy() % 256))
    raw = tokenizer.detokenize(ids, spec.grid)
    raw = raw[0] if isinstance(raw, (np.ndarray, torch.Tensor, list)) else raw
    if spec.grid is None:  # global tokens: a vector or whatever the tokenizer returns
        return Decoded(name, text=np.array2string(np.asarray(raw), precision=3, threshold=24), value=raw)
    return Decoded(name, picture=colorize(raw), value=raw)


def decode_state(state: Batch, specs: Mapping[str, ModalitySpec], tokenizers: Mapping[str, Tokenizer],
                 modalities: Sequence[str] | None = None, sample: int = 0) -> dict[str, Decoded]:
    """Raw forms of ``modalities`` (default: all) of one sample of a state."""
    names = list(modalities) if modalities is not None else list(state)
    return {m: decode_modality(m, state[m], specs[m], tokenizers.get(m), sample) for m in names}


def _boxes(value: Any) -> list[dict] | None:
    if isinstance(value, list) and all(isinstance(b, Mapping) and "box" in b for b in value):
        return list(value)
    return None


def grid_picture(decoded: Mapping[str, Decoded], conditions: Sequence[str], cell: int = 192) -> Image.Image:
    """One row: conditions, then outputs, colourised; boxes drawn on the first picture; texts below."""
    order = [m for m in conditions if m in decoded] + [m for m in decoded if m not in conditions]
    base = next((d.picture for d in decoded.values() if d.picture is not None and d.picture.ndim == 3), None)
    cells: list[np.ndarray | Image.Image] = []
    titles, notes = [], []
    for m in order:
        d = decoded[m]
        label = f"{m} (given)" if m in conditions else m
        boxes = _boxes(d.value)
        if boxes is not None:
            canvas = base if base is not None else np.full((cell, cell, 3), 255, np.uint8)
            colors = [viz.LABEL_PALETTE[1 + i % (len(viz.LABEL_PALETTE) - 1)] for i in range(len(boxes))]
            cells.append(viz.draw_boxes(canvas, [b["box"] for b in boxes], [str(b.get("class", "")) for b in boxes],
                                        colors, cell))
            titles.append(label)
        elif d.picture is not None:
            cells.append(d.picture)
            titles.append(label)
        if d.text is not None:
            notes.append(f"{label}: {d.text}")
    width = max(1, len(cells)) * (cell + 4) + 4
    footer = viz.stack([viz.text_block(n, width - 8, size=12) for n in notes], pad=2) if notes else None
    if not cells:
        return footer or viz.text_block("(nothing to show)", width)
    return viz.grid([cells], titles=titles, footers=[footer], cell=cell)


def _file_name(modality: str) -> str:
    return "".join(c if c.isalnum() or c in "@-_." else "_" for c in modality)


def png_bytes(picture: np.ndarray) -> bytes:
    """The PNG file of an (H, W, 3) uint8 picture: what ``omnimask generate`` writes and the server sends."""
    buf = io.BytesIO()
    Image.fromarray(picture).save(buf, format="PNG")
    return buf.getvalue()


def write_outputs(decoded: Mapping[str, Decoded], conditions: Sequence[str], out: str | Path,
                  cell: int = 192) -> dict[str, Path]:
    """Write every decoded modality and ``grid.png`` into ``out``; returns the paths by modality."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for m, d in decoded.items():
        stem = out / _file_name(m)
        if d.picture is not None:
            paths[m] = stem.with_suffix(".png")
            paths[m].write_bytes(png_bytes(d.picture))
        if d.text is not None:
            paths[m] = stem.with_suffix(".txt")
            paths[m].write_text(d.text + "\n")
            if isinstance(d.value, (list, dict)):
                stem.with_suffix(".json").write_text(json.dumps(d.value, indent=2, default=float) + "\n")
    paths["grid"] = out / "grid.png"
    grid_picture(decoded, conditions, cell).save(paths["grid"])
    return paths
