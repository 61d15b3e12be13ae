"""Conditions for generation from raw inputs, partial conditions (in-/out-painting), editing helpers.

:class:`Conditioner` turns raw values into a generation state through the model's tokenizers
(a modality → tokenizer mapping such as :func:`omnimask.tokenizers.bundle.load_tokenizers` returns).

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
from omnimask.generation.state import full_condition, sequence_from_ids
from omnimask.images import ImageError, read_image, square
from omnimask.modalities import ModalitySpec
from omnimask.tokenizers.entries import Tokenizer
from omnimask.tokenizers.pixels import normalise_rgb


def load_image(value: str | Path | Image.Image | np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """An (H, W, 3) uint8 image from a path, PIL image or array, optionally brought to ``size`` (H, W).

    Files are read as ``omnimask label`` reads photos (:func:`omnimask.images.read_image`: EXIF
    orientation, any mode to RGB, size limits) and a square ``size`` takes the centred square
    (:func:`omnimask.images.square`), so a photo conditions generation the way it trained.
    """
    if isinstance(value, (str, Path)):
        path = Path(value)
        if not path.is_file():
            raise FileNotFoundError(f"no image at {path}")
        try:
            arr = read_image(path).rgb
        except ImageError as err:
            raise ValueError(f"{path}: {err}") from None
    elif isinstance(value, Image.Image):
        arr = np.asarray(value.convert("RGB"))
    else:
        arr = np.asarray(value)
        if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
            raise ValueError(f"an image must be (H, W, 3) uint8, got {arr.dtype} {arr.shape}")
    if size is None or arr.shape[:2] == tuple(size):
        return arr
    if size[0] == size[1]:
        return square(arr, size[0])
    return np.asarray(Image.fromarray(arr).resize((size[1], size[0]), Image.Resampling.BICUBIC))


def _ids(value: Any) -> torch.Tensor | None:
    """A 1-D integer tensor / array / list as (N,) ids; None for anything else (a raw value)."""
    if isinstance(value, torch.Tensor) and not value.is_floating_point():
        return value.long().reshape(-1)
    if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.integer) and value.ndim == 1:
        return torch.from_numpy(value).long()
    return None


def _is_id_list(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and bool(value) and all(isinstance(v, int) for v in value)


class Conditioner:
    """Raw values → fully given generation conditions through a model's tokenizers.

    The one place where raw inputs become tokens for generation (the CLI, the demo, the evaluation and
    the server all come through :class:`~omnimask.generation.pipeline.Pipeline`, which holds one):

    * ``pixels`` — an image path, PIL image or (H, W, 3) uint8 array, resized to the modality's size and
      normalised like the released models (ImageNet mean / std, :func:`omnimask.tokenizers.pixels.normalise_rgb`);
    * grid and global tokens — the raw map / features through the tokenizer (an image path is read for
      RGB-like maps), or ids directly as a 1-D integer tensor / array of the right length;
    * sequences — a caption string, a box list, a metadata dict … through the modality's serialiser (or
      a list of int ids), followed by ``[EOS]`` (a complete input, as in training). A sequence longer
      than the modality's ``num_tokens`` (with ``[EOS]``) is an error, or cut to fit with ``truncate``.

    Args:
        specs: the model's modalities.
        tokenizers: modality name → :class:`~omnimask.tokenizers.entries.Tokenizer` (a bundle).
    """

    def __init__(self, specs: Mapping[str, ModalitySpec], tokenizers: Mapping[str, Tokenizer] | None = None) -> None:
        self.specs = dict(specs)
        self.tokenizers = dict(tokenizers or {})

    def _tokenizer(self, name: str, what: str) -> Tokenizer:
        if name not in self.tokenizers:
            raise ValueError(f"{name}: {what} needs a tokenizer; the model has none for it (tokenizers for "
                             f"{sorted(self.tokenizers)}); give ids, or a model folder with tokenizers/")
        return self.tokenizers[name]

    def _pixels(self, spec: ModalitySpec, values: Sequence[Any]) -> ModalityBatch:
        rgb = np.stack([normalise_rgb(load_image(v, spec.image_size)) for v in values])
        return full_condition(spec, torch.from_numpy(rgb))

    def _sequence(self, spec: ModalitySpec, values: Sequence[Any], truncate: bool) -> ModalityBatch:
        raw = [i for i, v in enumerate(values) if not _is_id_list(v)]
        rows: list[list[int]] = [list(v) if _is_id_list(v) else [] for v in values]
        if raw:
            tokenized = self._tokenizer(spec.name, "a raw value").tokenize([values[i] for i in raw])
            for i, ids in zip(raw, tokenized):
                rows[i] = list(ids)
        room = spec.num_tokens - 1  # [EOS] takes the last slot
        longest = max(len(r) for r in rows)
        if longest > room and not truncate:
            raise ValueError(f"{spec.name}: {longest + 1} tokens (with [EOS]) exceed the modality's {spec.num_tokens}; "
                             "shorten the input")
        tensor, lengths = sequence_from_ids([r[:room] for r in rows])
        return full_condition(spec, tensor, lengths)

    def _tokens(self, spec: ModalitySpec, values: Sequence[Any]) -> ModalityBatch:
        given = [_ids(v) for v in values]
        if all(g is not None for g in given):
            ids = torch.stack(given)  # type: ignore[arg-type]
        else:
            raw = [load_image(v) if isinstance(v, (str, Path, Image.Image)) else np.asarray(v) for v in values]
            ids = self._tokenizer(spec.name, "a raw map").tokenize(np.stack(raw))  # type: ignore[assignment]
            ids = torch.as_tensor(ids).long()
        if ids.shape[1] != spec.num_tokens:
            raise ValueError(f"{spec.name}: {ids.shape[1]} token ids, the modality has {spec.num_tokens}")
        if int(ids.max()) >= spec.vocab_size or int(ids.min()) < 0:
            raise ValueError(f"{spec.name}: token ids must lie in [0, {spec.vocab_size})")
        return full_condition(spec, ids)

    def condition(self, name: str, values: Sequence[Any], *, truncate: bool = False) -> ModalityBatch:
        """One modality given for a batch: B = ``len(values)`` raw values (see the class docstring)."""
        if name not in self.specs:
            raise ValueError(f"unknown modality {name!r}; the model knows {sorted(self.specs)}")
        if not values:
            raise ValueError(f"{name}: no values")
        spec = self.specs[name]
        if spec.is_pixels:
            return self._pixels(spec, values)
        if spec.is_sequence:
            return self._sequence(spec, values, truncate)
        return self._tokens(spec, values)

    def batch(self, raw: Mapping[str, Sequence[Any]], *, truncate: bool = False) -> Batch:
        """A generation state of B samples: modality name → B raw values (the same B for all)."""
        sizes = {len(v) for v in raw.values()}
        if len(sizes) > 1:
            raise ValueError(f"every modality needs the same number of values, got {sorted(sizes)}")
        return {m: self.condition(m, v, truncate=truncate) for m, v in raw.items()}

    def __call__(self, raw: Mapping[str, Any], *, truncate: bool = False) -> Batch:
        """A generation state of one sample (B = 1): modality name → one raw value."""
        return self.batch({m: [v] for m, v in raw.items()}, truncate=truncate)


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
