"""The entry types of a tokenizer bundle: one modality's raw values ↔ token ids.

Every entry honours :class:`Tokenizer`: ``vocab_size``, ``tokenize`` (a batch of raw values → ids) and
``detokenize`` (ids → a batch of raw values), plus ``save_entry`` / ``load_entry`` for
:mod:`omnimask.tokenizers.bundle`, which keeps the table of entry types by their ``entry_type``:

* ``map`` — the k-means stand-in on raw maps (:class:`MapTokenizer`);
* ``feature_kmeans`` — the k-means stand-in on MiniCLIP features (:class:`FeatureKMeansTokenizer`);
* ``card`` — a trained VQ tokenizer with its card (:class:`CardMapTokenizer` around a
  :class:`~omnimask.tokenizers.base.ModalityTokenizer`; the card says the raw format), optionally
  stored in float16 (``"dtype": "float16"``; loading casts to float32);
* ``text`` — a sequence modality through the shared WordPiece vocabulary (:class:`SequenceTokenizer`),
  with the modality's serialiser for structured values (boxes, metadata, palettes).

Raw formats: maps are numpy batches (B, H, W[, C]) in the modality's natural units (uint8 RGB,
metres, unit normals, class ids, 0/1 edges); the MiniCLIP feature tokenizers (``tok_clip@R``,
``tok_clip_global``) take and return *features*, not RGB — float32 patch features (B, 8, 8, 64) and
unit-norm embeddings (B, 64) (:class:`~omnimask.data.tokenize.SampleTokenizer` computes them from an
image with MiniCLIP); sequences are lists of values per sample (a caption string, a list of box dicts,
a metadata dict, a list of RGB triples) ↔ ragged id lists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
import torch
from einops import rearrange

from omnimask.tokenizers.base import ModalityTokenizer
from omnimask.tokenizers.kmeans import KMeansPatchTokenizer
from omnimask.tokenizers.map_features import map_features
from omnimask.tokenizers.text import TextTokenizer
from omnimask.tokenizers.text.serial.detection import boxes_as_dicts, parse_det, serialize_det
from omnimask.tokenizers.text.serial.metadata import metadata_chunks, metadata_values, parse_metadata
from omnimask.tokenizers.text.serial.palette import parse_palette, serialize_palette

#: Storage dtypes a ``card`` entry may name.
DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@runtime_checkable
class Tokenizer(Protocol):
    """One modality's tokenizer, as every bundle entry (and any stand-in a caller passes) provides it.

    Grid and global modalities: ``tokenize`` takes a batch of B raw values (an array (B, ...) or a list)
    and returns (B, N) int64 ids; ``detokenize`` takes (B, N) ids (and the (h, w) grid of a grid
    modality) and returns B raw values as an array. Sequence modalities: ``tokenize`` takes B values and
    returns B ragged id lists (without ``[EOS]``); ``detokenize`` takes B id lists (or a padded tensor)
    and returns B values.
    """

    @property
    def vocab_size(self) -> int: ...

    def tokenize(self, raw: Any) -> torch.Tensor | list[list[int]]: ...

    def detokenize(self, ids: Any, grid: tuple[int, int] | None = None) -> Any: ...


class _KMeansEntry:
    """Bundle storage shared by the k-means stand-ins: the codebook under ``<kind>/`` plus one integer
    option (``option``: the constructor's third argument, stored under its name in the manifest)."""

    entry_type: ClassVar[str]
    option: ClassVar[str]
    kind: str
    tokenizer: KMeansPatchTokenizer

    def save_entry(self, directory: Path) -> dict[str, Any]:
        """Write the codebook under ``directory/<kind>`` (once) and return the manifest entry."""
        if not (directory / self.kind).exists():
            self.tokenizer.save(directory / self.kind)
        return {"type": self.entry_type, "map": self.kind, "path": self.kind, self.option: getattr(self, self.option)}

    @classmethod
    def load_entry(cls, folder: Path, entry: Mapping[str, Any], shared: dict[str, Any], modality: str) -> Any:
        """Rebuild from ``modality``'s manifest entry whose files are in ``folder``."""
        return cls(entry["map"], KMeansPatchTokenizer.load(folder), entry.get(cls.option, 0))  # type: ignore[call-arg]


class MapTokenizer(_KMeansEntry):
    """Raw image-like maps of one kind (e.g. ``depth``) ↔ (B, h·w) ids through a patch tokenizer."""

    entry_type: ClassVar[str] = "map"
    option: ClassVar[str] = "num_classes"

    def __init__(self, kind: str, tokenizer: KMeansPatchTokenizer, num_classes: int = 0) -> None:
        self.kind = kind
        self.tokenizer = tokenizer
        self.num_classes = num_classes
        self.features = map_features(kind)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    def tokenize(self, raw: np.ndarray | Sequence[np.ndarray]) -> torch.Tensor:
        """(B, H, W[, C]) raw maps → (B, h·w) int64 ids."""
        feats = np.stack([self.features.to_features(np.asarray(m), self.num_classes) for m in raw])
        return self.tokenizer.tokenize(torch.from_numpy(feats))

    def detokenize(self, ids: torch.Tensor, grid: tuple[int, int] | None = None) -> np.ndarray:
        """(B, h·w) ids → (B, H, W[, C]) raw maps."""
        if grid is None:
            side = round(ids.shape[1] ** 0.5)
            grid = (side, side)
        feats = self.tokenizer.detokenize(ids.long().cpu(), grid).numpy()
        return np.stack([self.features.from_features(f, self.num_classes) for f in feats])


def _feature_maps(kind: str, raw: np.ndarray | torch.Tensor, num_tokens: int) -> torch.Tensor:
    """Features (B, h, w, C) → (B, C, h, w); vectors (B, E) → (B, E / n, 1, n) chunks (n = ``num_tokens``)."""
    x = torch.as_tensor(np.asarray(raw)).float()
    if num_tokens:
        if x.ndim != 2 or x.shape[1] % num_tokens:
            raise ValueError(f"{kind}: expected (B, E) vectors, E a multiple of {num_tokens}; got {tuple(x.shape)}")
        return rearrange(x, "b (n c) -> b c 1 n", n=num_tokens)
    if x.ndim != 4:
        raise ValueError(f"{kind}: expected (B, h, w, C) feature maps, got {tuple(x.shape)}")
    return rearrange(x, "b h w c -> b c h w")


class FeatureKMeansTokenizer(_KMeansEntry):
    """MiniCLIP features ↔ ids through a k-means codebook: the stand-in of the ``clip`` tokenizers.

    ``num_tokens`` 0: patch features (B, h, w, C) ↔ (B, h·w) ids, one code per position; otherwise
    vectors (B, E) ↔ (B, num_tokens) ids, each vector split into ``num_tokens`` chunks of
    E / num_tokens quantized with one shared codebook (product quantisation).
    """

    entry_type: ClassVar[str] = "feature_kmeans"
    option: ClassVar[str] = "num_tokens"

    def __init__(self, kind: str, tokenizer: KMeansPatchTokenizer, num_tokens: int = 0) -> None:
        self.kind, self.tokenizer, self.num_tokens = kind, tokenizer, num_tokens

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    def tokenize(self, raw: np.ndarray | torch.Tensor) -> torch.Tensor:
        """(B, h, w, C) features or (B, E) vectors → (B, N) int64 ids."""
        return self.tokenizer.tokenize(_feature_maps(self.kind, raw, self.num_tokens))

    def detokenize(self, ids: torch.Tensor, grid: tuple[int, int] | None = None) -> np.ndarray:
        """(B, N) ids → float32 (B, h, w, C) features (square grid unless ``grid``) or (B, E) vectors."""
        ids = ids.long().cpu()
        if self.num_tokens:
            return rearrange(self.tokenizer.detokenize(ids, (1, self.num_tokens)), "b c 1 n -> b (n c)").numpy()
        side = round(ids.shape[1] ** 0.5)
        maps = self.tokenizer.detokenize(ids, grid or (side, side))
        return rearrange(maps, "b c h w -> b h w c").numpy()

    @classmethod
    def fit(cls, kind: str, features: np.ndarray, vocab_size: int, num_tokens: int = 0,
            seed: int = 0) -> FeatureKMeansTokenizer:
        """Fit on (S, h, w, C) patch features (``num_tokens`` 0) or (S, E) vectors."""
        maps = _feature_maps(kind, features, num_tokens)
        return cls(kind, KMeansPatchTokenizer.fit(maps, 1, vocab_size, seed=seed), num_tokens)


class CardMapTokenizer:
    """Raw image-like maps of one kind ↔ (B, h·w) ids through a trained, card-driven VQ tokenizer.

    Args:
        kind: the map it encodes (``rgb``, ``depth``, ...; SynthWorld's sample keys).
        tokenizer: the tokenizer; its card defines the raw format (see
            :class:`~omnimask.tokenizers.card.InputSpec`).
        batch_size: samples per model call (bounds memory on large batches).
        dtype: storage dtype of the weights when saved in a bundle.
    """

    entry_type: ClassVar[str] = "card"

    def __init__(self, kind: str, tokenizer: ModalityTokenizer, batch_size: int = 256,
                 dtype: str = "float32") -> None:
        if dtype not in DTYPES:
            raise ValueError(f"storage dtype {dtype!r} is not one of {sorted(DTYPES)}")
        self.kind, self.tokenizer, self.batch_size, self.dtype = kind, tokenizer, batch_size, dtype

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    def tokenize(self, raw: np.ndarray | Sequence[np.ndarray]) -> torch.Tensor:
        """(B, H, W[, C]) raw maps (or a list of per-sample maps) → (B, h·w) int64 ids on the CPU."""
        chunks = [self.tokenizer.tokenize(raw[i : i + self.batch_size]).cpu()
                  for i in range(0, len(raw), self.batch_size)]  # fmt: skip
        return torch.cat(chunks) if chunks else torch.zeros(0, self.tokenizer.card.tokens_per_sample, dtype=torch.long)

    def detokenize(self, ids: torch.Tensor, grid: tuple[int, int] | None = None) -> np.ndarray:
        """(B, h·w) ids → (B, H, W[, C]) raw maps (numpy, the card's raw dtype)."""
        card = self.tokenizer.card
        size = (grid[0] * card.patch_size, grid[1] * card.patch_size) if grid and card.patch_size else None
        outs = [self.tokenizer.detokenize(ids[i : i + self.batch_size].long(), image_size=size).cpu()
                for i in range(0, len(ids), self.batch_size)]  # fmt: skip
        return torch.cat(outs).numpy()

    def save(self, directory: str | Path) -> None:
        self.tokenizer.save(directory, dtype=DTYPES[self.dtype])

    @classmethod
    def load(cls, directory: str | Path, kind: str, dtype: str = "float32") -> CardMapTokenizer:
        return cls(kind, ModalityTokenizer.load(directory), dtype=dtype)

    def save_entry(self, directory: Path) -> dict[str, Any]:
        """Write the tokenizer under ``directory/<kind>`` (once) and return the manifest entry."""
        if not (directory / self.kind).exists():
            self.save(directory / self.kind)
        return {"type": self.entry_type, "map": self.kind, "path": self.kind, "dtype": self.dtype}

    @classmethod
    def load_entry(cls, folder: Path, entry: Mapping[str, Any], shared: dict[str, Any],
                   modality: str) -> CardMapTokenizer:
        """Rebuild from a manifest entry in ``folder``; modalities naming the same folder share one model."""
        key = f"card:{folder}"
        if key not in shared:
            shared[key] = cls.load(folder, entry["map"], entry.get("dtype", "float32"))
        return shared[key]


def _caption_text(value: Any) -> list[str]:
    if not isinstance(value, str):
        raise TypeError(f"a caption is a string, got {type(value).__name__}")
    return [value]


def _palette_colors(value: Any) -> Any:
    return value["colors"] if isinstance(value, Mapping) else value


#: modality → (value → text chunks, text → value).
SERIALISERS: dict[str, tuple[Any, Any]] = {
    "caption": (_caption_text, lambda text: text),
    "det": (lambda v: [serialize_det(v)], lambda text: boxes_as_dicts(parse_det(text).items)),
    "metadata": (lambda v: metadata_chunks(v), lambda text: metadata_values(parse_metadata(text))),
    "color_palette": (
        lambda v: [serialize_palette(_palette_colors(v))],
        lambda text: [list(c) for c in parse_palette(text).items],
    ),
}


class SequenceTokenizer:
    """One sequence modality: structured value ↔ text ↔ ids in the shared WordPiece vocabulary."""

    entry_type: ClassVar[str] = "text"

    def __init__(self, modality: str, text: TextTokenizer) -> None:
        if modality not in SERIALISERS:
            raise KeyError(f"no text serialiser for {modality!r}; known: {sorted(SERIALISERS)}")
        self.modality = modality
        self.text = text
        self._to_text, self._from_text = SERIALISERS[modality]

    @property
    def vocab_size(self) -> int:
        return self.text.vocab_size

    def chunks(self, value: Any) -> list[np.ndarray]:
        """One sample's value → id chunks (metadata: one chunk per key; others: one chunk)."""
        return [np.asarray(self.text.encode(t), np.int64) for t in self._to_text(value)]

    def tokenize(self, values: Sequence[Any]) -> list[list[int]]:
        """Values of a batch → ragged id lists (no ``[EOS]``; masking and generation add it)."""
        return [[int(i) for c in self.chunks(v) for i in c] for v in values]

    def decode_text(self, ids: Sequence[int]) -> str:
        """Generated ids → text up to ``[EOS]``. Ids past the vocabulary (a model's sequence heads may be
        wider than the WordPiece vocabulary, e.g. SynthWorld's 4608 rows for 4428 pieces) are dropped."""
        return self.text.decode([i for i in ids if 0 <= i < self.vocab_size], skip_special=True, stop_at_eos=True)

    def detokenize(self, ids: Sequence[Sequence[int]] | torch.Tensor, grid: tuple[int, int] | None = None) -> list[Any]:
        """Ragged id lists (or a padded tensor) → values; parsers drop what they cannot read (``grid``: unused)."""
        rows = ids.tolist() if isinstance(ids, torch.Tensor) else ids
        return [self._from_text(self.decode_text(r)) for r in rows]

    def save_entry(self, directory: Path) -> dict[str, Any]:
        """Write the shared vocabulary under ``directory/text`` (once) and return the manifest entry."""
        if not (directory / "text").exists():
            self.text.save_pretrained(directory / "text")
        return {"type": self.entry_type, "path": "text"}

    @classmethod
    def load_entry(cls, folder: Path, entry: Mapping[str, Any], shared: dict[str, Any],
                   modality: str) -> SequenceTokenizer:
        """Rebuild from a manifest entry in ``folder`` (the vocabulary is read once per folder)."""
        key = f"text:{folder}"
        if key not in shared:
            shared[key] = TextTokenizer.from_file(folder)
        return cls(modality, shared[key])


AnyTokenizer = MapTokenizer | FeatureKMeansTokenizer | CardMapTokenizer | SequenceTokenizer
