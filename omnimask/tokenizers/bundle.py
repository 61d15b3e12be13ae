"""The tokenizers of a model, one per modality, saved beside the model.

A model directory holds ``tokenizers/`` with one sub-folder per tokenizer and ``manifest.json``
mapping each modality name to its entry, so a trained model carries everything needed to turn raw
inputs into tokens and generated tokens back into images and text::

    tokenizers/manifest.json    {"tok_depth@64": {"type": "map", "map": "depth", "path": "depth"},
                                 "caption": {"type": "text", "path": "text"}, ...}

Entry types:

* ``map`` — an image-like map tokenizer on raw maps (:class:`MapTokenizer`: k-means stand-in or a
  card-driven VQ-VAE (:class:`~omnimask.tokenizers.base.ModalityTokenizer`));
* ``text`` — a sequence modality through the shared WordPiece vocabulary (:class:`SequenceTokenizer`),
  with the modality's serialiser for structured values (boxes, metadata, palettes).

Raw formats: maps are numpy batches (B, H, W[, C]) in the modality's natural units (uint8 RGB,
metres, unit normals, class ids, 0/1 edges); sequences are lists of values per sample (a caption
string, a list of box dicts, a metadata dict, a list of RGB triples).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from omnimask.tokenizers.kmeans import KMeansPatchTokenizer
from omnimask.tokenizers.map_features import map_features
from omnimask.tokenizers.text import TextTokenizer
from omnimask.tokenizers.text.serial.detection import boxes_as_dicts, parse_det, serialize_det
from omnimask.tokenizers.text.serial.metadata import metadata_chunks, metadata_values, parse_metadata
from omnimask.tokenizers.text.serial.palette import parse_palette, serialize_palette

MANIFEST = "manifest.json"


class MapTokenizer:
    """Raw image-like maps of one kind (e.g. ``depth``) ↔ (B, h·w) ids through a patch tokenizer."""

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
        return self.text.decode(ids, skip_special=True, stop_at_eos=True)

    def detokenize(self, ids: Sequence[Sequence[int]] | torch.Tensor) -> list[Any]:
        """Ragged id lists (or a padded tensor) → values; parsers drop what they cannot read."""
        rows = ids.tolist() if isinstance(ids, torch.Tensor) else ids
        return [self._from_text(self.decode_text(r)) for r in rows]


Tokenizers = dict[str, "MapTokenizer | SequenceTokenizer"]


def save_tokenizers(tokenizers: Mapping[str, MapTokenizer | SequenceTokenizer], directory: str | Path) -> Path:
    """Write every tokenizer once (shared ones, like the text vocabulary, are stored once)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, dict[str, Any]] = {}
    for name, tok in tokenizers.items():
        if isinstance(tok, MapTokenizer):
            if not (directory / tok.kind).exists():
                tok.tokenizer.save(directory / tok.kind)
            manifest[name] = {"type": "map", "map": tok.kind, "path": tok.kind, "num_classes": tok.num_classes}
        else:
            if not (directory / "text").exists():
                tok.text.save_pretrained(directory / "text")
            manifest[name] = {"type": "text", "path": "text"}
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return directory


def load_tokenizers(path: str | Path) -> Tokenizers:
    """Load a tokenizer bundle: ``path`` is the bundle folder or a model folder holding ``tokenizers/``."""
    path = Path(path)
    if not (path / MANIFEST).is_file() and (path / "tokenizers" / MANIFEST).is_file():
        path = path / "tokenizers"
    if not (path / MANIFEST).is_file():
        raise FileNotFoundError(f"no tokenizer bundle at {path} (expected {MANIFEST} or tokenizers/{MANIFEST})")
    manifest = json.loads((path / MANIFEST).read_text())
    text: TextTokenizer | None = None
    out: Tokenizers = {}
    for name, entry in manifest.items():
        if entry["type"] == "map":
            out[name] = MapTokenizer(entry["map"], KMeansPatchTokenizer.load(path / entry["path"]),
                                     entry.get("num_classes", 0))
        elif entry["type"] == "text":
            text = text or TextTokenizer.from_file(path / entry["path"])
            out[name] = SequenceTokenizer(name, text)
        else:
            raise ValueError(f"{path / MANIFEST}: unknown tokenizer type {entry['type']!r} for {name!r}")
    return out
