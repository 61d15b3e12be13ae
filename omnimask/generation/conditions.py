"""Conditions for generation from raw inputs, partial conditions (in-/out-painting), editing helpers.

:func:`build_conditions` turns raw values into a generation state through the model's tokenizers
(a modality → tokenizer mapping such as :func:`omnimask.tokenizers.bundle.load_tokenizers` returns):

* ``pixels`` — an image file path, a PIL image or an (H, W, 3) uint8 array, resized to the
  modality's size and normalised like the released models (ImageNet mean / std);
* image-like tokens — the raw map (array, or an image path for RGB-like maps) through the tokenizer,
  or ids directly as an int tensor / array of the right length;
* sequences — a caption string, a box list, a metadata dict … through the modality's serialiser,
  followed by ``[EOS]`` (a complete input, as in training).

Partial conditions keep some tokens of a modality and let generation fill the rest:
:func:`tokens_keep_from_pixels` reduces a pixel mask to tokens (a token is kept only when all its
pixels are), :func:`partial` marks the others as targets — in-painting, or out-painting with the
mask inverted. Editing helpers change raw inputs before they are tokenized again: move / resize
one box, replace one class of a segmentation map (with :func:`changed_pixels` to regenerate only
where it changed), set metadata values to steer generation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from einops import reduce
from PIL import Image

from omnimask.batch import Batch, ModalityBatch
from omnimask.data.synth_tokens import normalise_rgb
from omnimask.generation.state import full_condition, sequence_from_ids
from omnimask.modalities import ModalitySpec


def load_image(value: str | Path | Image.Image | np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """An (H, W, 3) uint8 image from a path, PIL image or array, optionally resized to ``size`` (H, W)."""
    if isinstance(value, (str, Path)):
        path = Path(value)
        if not path.is_file():
            raise FileNotFoundError(f"no image at {path}")
        value = Image.open(path)
    if isinstance(value, Image.Image):
        img = value.convert("RGB")
    else:
        arr = np.asarray(value)
        if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
            raise ValueError(f"an image must be (H, W, 3) uint8, got {arr.dtype} {arr.shape}")
        img = Image.fromarray(arr)
    if size is not None and img.size != (size[1], size[0]):
        img = img.resize((size[1], size[0]), Image.Resampling.BICUBIC)
    return np.asarray(img)


def pixels_condition(spec: ModalitySpec, image: Any) -> ModalityBatch:
    """A ``pixels`` condition (B = 1) from an image path / PIL image / uint8 array."""
    rgb = load_image(image, spec.image_size)
    return full_condition(spec, torch.from_numpy(normalise_rgb(rgb))[None])


def _ids(value: Any) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor) and not value.is_floating_point():
        return value.long().reshape(1, -1)
    if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.integer) and value.ndim == 1:
        return torch.from_numpy(value).long()[None]
    return None


def raw_condition(spec: ModalitySpec, value: Any, tokenizer: Any | None) -> ModalityBatch:
    """One modality's condition (B = 1) from a raw value (see the module docstring)."""
    if spec.kind == "pixels":
        return pixels_condition(spec, value)
    if spec.kind == "sequence":
        if isinstance(value, (list, tuple)) and value and all(isinstance(v, int) for v in value):
            rows = [list(value)]
        else:
            if tokenizer is None:
                raise ValueError(f"{spec.name}: a raw value needs a tokenizer; pass tokenizers={{{spec.name!r}: ...}}")
            # a bundle's SequenceTokenizer serialises structured values; a bare TextTokenizer encodes text
            rows = tokenizer.tokenize([value]) if hasattr(tokenizer, "tokenize") else [tokenizer.encode(str(value))]
        tensor, lengths = sequence_from_ids(rows)
        if tensor.shape[1] > spec.num_tokens:
            raise ValueError(f"{spec.name}: {tensor.shape[1]} tokens exceed the modality's {spec.num_tokens}")
        return full_condition(spec, tensor, lengths)
    ids = _ids(value)
    if ids is None:
        if tokenizer is None:
            raise ValueError(f"{spec.name}: a raw map needs a tokenizer; pass tokenizers={{{spec.name!r}: ...}}")
        raw = load_image(value) if isinstance(value, (str, Path, Image.Image)) else np.asarray(value)
        ids = tokenizer.tokenize(raw[None]).long()
    if ids.shape[1] != spec.num_tokens:
        raise ValueError(f"{spec.name}: {ids.shape[1]} token ids, the modality has {spec.num_tokens}")
    if int(ids.max()) >= spec.vocab_size or int(ids.min()) < 0:
        raise ValueError(f"{spec.name}: token ids must lie in [0, {spec.vocab_size})")
    return full_condition(spec, ids)


def build_conditions(raw: Mapping[str, Any], specs: Mapping[str, ModalitySpec],
                     tokenizers: Mapping[str, Any] | None = None) -> Batch:
    """A generation state (B = 1) from raw values keyed by modality name."""
    unknown = [m for m in raw if m not in specs]
    if unknown:
        raise ValueError(f"unknown modalities {unknown}; the model knows {sorted(specs)}")
    return {m: raw_condition(specs[m], v, (tokenizers or {}).get(m)) for m, v in raw.items()}


# ---------------------------------------------------------------------------------------------
# Partial conditions
# ---------------------------------------------------------------------------------------------
def tokens_keep_from_pixels(keep_pixels: np.ndarray | torch.Tensor, spec: ModalitySpec) -> torch.Tensor:
    """(H, W) or (B, H, W) bool pixel mask (True = known) -> (B, h·w) token keep-mask.

    A token is kept only if every pixel of its patch is known; the mask is resized (nearest) to
    the modality's pixel size first.
    """
    if spec.grid is None or spec.image_size is None:
        raise ValueError(f"{spec.name}: only grid modalities can take a pixel mask")
    mask = torch.as_tensor(np.asarray(keep_pixels)).bool()
    mask = mask[None] if mask.ndim == 2 else mask
    if tuple(mask.shape[1:]) != spec.image_size:
        mask = torch.nn.functional.interpolate(mask[:, None].float(), size=spec.image_size, mode="nearest")[:, 0] > 0.5
    h, w = spec.grid
    keep = reduce(mask.float(), "b (h ph) (w pw) -> b (h w)", "min", h=h, w=w)  # every pixel of the patch
    return keep > 0.5


def partial(mb: ModalityBatch, keep: torch.Tensor) -> ModalityBatch:
    """Keep the tokens where ``keep`` (B, N) or (N,) is True as inputs; generate the others."""
    keep = keep.to(mb.input_keep.device).bool().expand_as(mb.input_keep)
    return ModalityBatch(mb.tensor, keep.clone(), ~keep)


def inpaint(mb: ModalityBatch, spec: ModalitySpec, keep_pixels: np.ndarray | torch.Tensor) -> ModalityBatch:
    """In-painting / out-painting: regenerate every token with an unknown pixel (``keep_pixels`` False)."""
    return partial(mb, tokens_keep_from_pixels(keep_pixels, spec))


# ---------------------------------------------------------------------------------------------
# Editing raw inputs
# ---------------------------------------------------------------------------------------------
def _clamped(box: Sequence[float]) -> list[float]:
    x0, y0, x1, y1 = (min(max(float(v), 0.0), 1.0) for v in box)
    return [x0, y0, max(x1, x0), max(y1, y0)]


def move_box(boxes: Sequence[Mapping[str, Any]], index: int, dx: float = 0.0, dy: float = 0.0) -> list[dict]:
    """A copy of ``boxes`` ({"class", "box": [x0, y0, x1, y1]} in [0, 1]) with box ``index`` shifted."""
    out = [dict(b) for b in boxes]
    x0, y0, x1, y1 = out[index]["box"]
    out[index]["box"] = _clamped([x0 + dx, y0 + dy, x1 + dx, y1 + dy])
    return out


def resize_box(boxes: Sequence[Mapping[str, Any]], index: int, factor: float) -> list[dict]:
    """A copy of ``boxes`` with box ``index`` scaled by ``factor`` about its centre."""
    out = [dict(b) for b in boxes]
    x0, y0, x1, y1 = out[index]["box"]
    cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) * factor / 2, (y1 - y0) * factor / 2
    out[index]["box"] = _clamped([cx - hw, cy - hh, cx + hw, cy + hh])
    return out


def replace_class(labels: np.ndarray, old: int, new: int) -> np.ndarray:
    """A copy of an (H, W) class map with class ``old`` replaced by ``new``."""
    out = np.array(labels, copy=True)
    out[out == old] = new
    return out


def changed_pixels(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """(H, W) bool: where two maps differ (any channel) — pass ``~changed`` to :func:`inpaint`."""
    diff = np.asarray(before) != np.asarray(after)
    return diff.any(axis=-1) if diff.ndim == 3 else diff


def with_metadata(raw: Mapping[str, Any], **values: float) -> dict[str, Any]:
    """A copy of raw conditions whose ``metadata`` dict has ``values`` set (steering by metadata)."""
    out = dict(raw)
    out["metadata"] = {**dict(raw.get("metadata") or {}), **values}
    return out
