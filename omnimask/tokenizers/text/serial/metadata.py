"""Image metadata (4M-21's ``metadata`` modality) as text chunks, and back.

Each metadata entry becomes one chunk ``v1=<type id> v0=<binned value>``; the chunks are joined by
spaces (chunk masking masks whole chunks, so :func:`metadata_chunks` returns them as a list). The type
ids and binning rules are 4M-21's, kept here as data (:data:`FOURM_METADATA_FIELDS`):

* image sizes (``original_width`` / ``original_height``): ``value // 32``, clamped to [0, 999];
* counts (caption lengths, numbers of humans / instances, diversities): the integer clamped to [0, 999];
* bounded scores: clamped to ``[vmin, vmax]`` then ``int((v − vmin) / (vmax − vmin) · (bins − 1))``;
* ``watermark_score`` (threshold 0.5) and ``aesthetic_score`` (4.5, 5.5): the index of the bin
  between thresholds.

Decoding maps a bin back to a representative value inside it (the bin centre for bounded scores,
``bin · 32`` for sizes as 4M does, and a fixed value per threshold bin), so that serialising a parsed
result gives back the same text.
"""

from __future__ import annotations

import bisect
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from omnimask.tokenizers.text.serial.parsing import (
    ParseResult,
    clip_words,
    read_value,
    read_values,
    text_words,
)

#: 4M writes metadata values with tokens v0=0..999.
VALUE_MAX = 999


@dataclass(frozen=True)
class MetadataField:
    """How one metadata key is written: its type id (``v1=``) and how its value is binned (``v0=``).

    ``kind`` is ``"image_dim"`` (``value // bin_size``), ``"count"`` (the integer itself), ``"range"``
    (``bins`` bins over ``[vmin, vmax]``) or ``"thresholds"`` (bins between ``thresholds``, decoded
    to ``representatives``).
    """

    name: str
    type_id: int
    kind: Literal["image_dim", "count", "range", "thresholds"]
    vmin: float = 0.0
    vmax: float = 1.0
    bins: int = 50
    bin_size: int = 32
    thresholds: tuple[float, ...] = ()
    representatives: tuple[float, ...] = ()

    @property
    def num_values(self) -> int:
        """Number of distinct ``v0=`` values this field can take."""
        if self.kind == "range":
            return self.bins
        if self.kind == "thresholds":
            return len(self.thresholds) + 1
        return VALUE_MAX + 1

    def quantize(self, value: float) -> int:
        """The ``v0=`` value of ``value`` (4M's rule for this kind)."""
        if not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ValueError(f"metadata {self.name!r}: value {value!r} is not a finite number")
        if self.kind == "image_dim":
            return int(min(max(value // self.bin_size, 0), VALUE_MAX))
        if self.kind == "count":
            return int(min(max(round(value), 0), VALUE_MAX))
        if self.kind == "range":
            unit = (min(max(value, self.vmin), self.vmax) - self.vmin) / (self.vmax - self.vmin)
            return int(unit * (self.bins - 1))
        return bisect.bisect_right(self.thresholds, value)

    def dequantize(self, q: int) -> float:
        """A representative value of bin ``q`` (it quantizes back to ``q``)."""
        if not 0 <= q < self.num_values:
            raise ValueError(f"metadata {self.name!r}: bin {q} outside [0, {self.num_values})")
        if self.kind == "image_dim":
            return q * self.bin_size
        if self.kind == "count":
            return q
        if self.kind == "range":
            if q == self.bins - 1:
                return self.vmax
            return self.vmin + (self.vmax - self.vmin) * (q + 0.5) / (self.bins - 1)
        return self.representatives[q]


def _range(name: str, type_id: int, vmin: float, vmax: float) -> MetadataField:
    return MetadataField(name=name, type_id=type_id, kind="range", vmin=vmin, vmax=vmax, bins=50)


#: 4M-21's metadata keys, type ids and binning (``MetadataTransform`` of the release).
FOURM_METADATA_FIELDS: tuple[MetadataField, ...] = (
    MetadataField(name="original_width", type_id=0, kind="image_dim"),
    MetadataField(name="original_height", type_id=1, kind="image_dim"),
    MetadataField(name="caption_n_chars", type_id=2, kind="count"),
    MetadataField(name="caption_n_words", type_id=3, kind="count"),
    MetadataField(name="caption_n_sentences", type_id=4, kind="count"),
    MetadataField(name="n_humans", type_id=5, kind="count"),
    MetadataField(name="n_sam_instances", type_id=6, kind="count"),
    MetadataField(name="n_coco_instances", type_id=7, kind="count"),
    MetadataField(name="coco_instance_diversity", type_id=8, kind="count"),
    _range("colorfulness", 9, 0, 150),
    _range("brightness", 10, 0, 255),
    _range("contrast", 11, 0, 127),
    _range("saturation", 12, 0, 255),
    _range("entropy", 13, 0, 10),
    _range("walkability", 14, 0, 1),
    _range("objectness", 15, 0, 1),
    MetadataField(name="semantic_diversity", type_id=16, kind="count"),
    _range("geometric_complexity", 17, 0, 0.75),
    _range("occlusion_score", 18, 0, 0.25),
    MetadataField(
        name="watermark_score", type_id=19, kind="thresholds", thresholds=(0.5,), representatives=(0.0, 1.0)
    ),
    MetadataField(
        name="aesthetic_score",
        type_id=20,
        kind="thresholds",
        thresholds=(4.5, 5.5),
        representatives=(4.0, 5.0, 6.0),
    ),
)


@dataclass(frozen=True)
class MetadataEntry:
    """One parsed chunk: the key, its bin (the ``v0=`` value) and a representative value."""

    name: str
    bin: int
    value: float


def _by_name(fields: Sequence[MetadataField]) -> dict[str, MetadataField]:
    return {f.name: f for f in fields}


def metadata_chunks(
    metadata: Mapping[str, float],
    *,
    fields: Sequence[MetadataField] = FOURM_METADATA_FIELDS,
    rng: np.random.Generator | None = None,
) -> list[str]:
    """One ``"v1=<type> v0=<value>"`` chunk per entry of ``metadata``.

    Args:
        metadata: key -> value; every key must be one of ``fields``.
        fields: the schema (4M-21's by default; SynthWorld may pass its own).
        rng: when given, the chunks are shuffled with it (4M shuffles during training); when
            ``None`` they follow the order of ``metadata``.
    """
    schema = _by_name(fields)
    unknown = [k for k in metadata if k not in schema]
    if unknown:
        raise ValueError(f"unknown metadata keys {unknown}; known keys: {sorted(schema)}")
    keys = list(metadata)
    if rng is not None:
        keys = [keys[i] for i in rng.permutation(len(keys))]
    return [f"v1={schema[k].type_id} v0={schema[k].quantize(metadata[k])}" for k in keys]


def serialize_metadata(
    metadata: Mapping[str, float],
    *,
    fields: Sequence[MetadataField] = FOURM_METADATA_FIELDS,
    rng: np.random.Generator | None = None,
) -> str:
    """The chunks of :func:`metadata_chunks` joined by spaces."""
    return " ".join(metadata_chunks(metadata, fields=fields, rng=rng))


def parse_metadata(
    text: str, *, fields: Sequence[MetadataField] = FOURM_METADATA_FIELDS
) -> ParseResult[MetadataEntry]:
    """Metadata entries from (possibly malformed) text; never raises.

    Chunks start at each ``v1=`` word. Dropped with a warning: words before the first chunk, chunks
    that are not exactly ``v1=<id> v0=<value>``, unknown type ids, values outside the field's bins,
    and repeated keys (the first one wins).
    """
    result: ParseResult[MetadataEntry] = ParseResult()
    by_id = {f.type_id: f for f in fields}
    words = text_words(text, result.warnings)
    starts = [i for i, w in enumerate(words) if (v := read_value(w)) is not None and v[0] == 1]
    if words and (not starts or starts[0] > 0):
        lead = words[: starts[0] if starts else len(words)]
        result.warnings.append(f"skipped words before the first metadata chunk: {clip_words(lead)!r}")
    seen: set[str] = set()
    for n, start in enumerate(starts):
        chunk = words[start : starts[n + 1] if n + 1 < len(starts) else len(words)]
        if len(chunk) != 2:
            result.warnings.append(f"dropped chunk {clip_words(chunk)!r}: expected 'v1=<type> v0=<value>'")
            continue
        type_id = read_value(chunk[0])[1]  # type: ignore[index]
        field = by_id.get(type_id)
        if field is None:
            result.warnings.append(f"dropped chunk {clip_words(chunk)!r}: unknown metadata type {type_id}")
            continue
        values, why = read_values(chunk[1:], (0,), field.num_values)
        if values is None:
            result.warnings.append(f"dropped chunk {clip_words(chunk)!r} ({field.name}): {why}")
            continue
        if field.name in seen:
            result.warnings.append(f"dropped repeated chunk {clip_words(chunk)!r} ({field.name})")
            continue
        seen.add(field.name)
        result.items.append(MetadataEntry(name=field.name, bin=values[0], value=field.dequantize(values[0])))
    return result


def metadata_values(entries: ParseResult[MetadataEntry] | Sequence[MetadataEntry]) -> dict[str, float]:
    """``{key: representative value}`` of parsed entries."""
    return {e.name: e.value for e in entries}
