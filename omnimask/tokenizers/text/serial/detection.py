"""Bounding boxes (4M's ``det`` modality) as text, and back.

4M's detection format: keep boxes whose score is at least 0.6, sort them by the distance of their
top-left corner to the origin (``xmin² + ymin²``, on the unquantised coordinates, ties kept in
input order), and write each as ``v0=X0 v1=Y0 v2=X1 v3=Y1 <class name>`` with
``X = round(x · (bins − 1))`` (Python rounding, half to even; bins = 1000), all joined by spaces::

    v0=200 v1=200 v2=799 v3=699 cat v0=100 v1=500 v2=899 v3=949 laptop

Coordinates are fractions of the image width/height. Class names may hold spaces
(``dining table``); they are atomic tokens of the vocabulary.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from omnimask.tokenizers.text.serial.parsing import (
    ParseResult,
    clip_words,
    read_value,
    read_values,
    text_words,
)

#: 4M's detection settings (``DetectionTransform`` defaults of the released pipeline).
DET_SCORE_THRESHOLD = 0.6
COORD_BINS = 1000


@dataclass(frozen=True)
class Box:
    """One detection: class name, ``(xmin, ymin, xmax, ymax)`` as fractions in [0, 1], optional score."""

    label: str
    box: tuple[float, float, float, float]
    score: float | None = None

    @classmethod
    def coerce(cls, value: Box | Mapping) -> Box:
        """Accept a :class:`Box` or a mapping ``{"class": str, "box": [x0, y0, x1, y1], "score": ...}``."""
        if isinstance(value, Box):
            return value
        if not isinstance(value, Mapping):
            raise ValueError(f"a box is a mapping {{\"class\": str, \"box\": [x0, y0, x1, y1]}}, got {value!r}; "
                             "boxes are a JSON list of them")
        label = value.get("class", value.get("label"))
        if label is None or "box" not in value:
            raise ValueError(f"box {value!r} needs 'class' (or 'label'), 'box' and optionally 'score'")
        box = tuple(float(x) for x in value["box"])
        if len(box) != 4:
            raise ValueError(f"box {value!r} needs 4 coordinates [xmin, ymin, xmax, ymax]")
        score = value.get("score")
        return cls(label=str(label), box=box, score=None if score is None else float(score))


def quantize_unit(x: float, bins: int = COORD_BINS, what: str = "coordinate") -> int:
    """``round(x · (bins − 1))`` for ``x`` in [0, 1] (values within 1e-6 outside are clamped)."""
    if not math.isfinite(x) or not -1e-6 <= x <= 1 + 1e-6:
        raise ValueError(f"{what} {x!r} must be a finite fraction in [0, 1]")
    return round(min(max(x, 0.0), 1.0) * (bins - 1))


def serialize_det(
    boxes: Iterable[Box | Mapping],
    *,
    score_threshold: float | None = DET_SCORE_THRESHOLD,
    bins: int = COORD_BINS,
) -> str:
    """4M's text for ``boxes`` (see module docstring); boxes without a score are always kept.

    Args:
        boxes: :class:`Box` objects or ``{"class", "box", "score"}`` mappings.
        score_threshold: keep boxes with ``score >= score_threshold``; ``None`` keeps all.
        bins: coordinate bins per axis.
    """
    kept = [Box.coerce(b) for b in boxes]
    if score_threshold is not None:
        kept = [b for b in kept if b.score is None or b.score >= score_threshold]
    kept.sort(key=lambda b: b.box[0] ** 2 + b.box[1] ** 2)
    parts = []
    for b in kept:
        if not b.label.strip():
            raise ValueError(f"box {b} has an empty class name")
        q = [quantize_unit(x, bins, f"box coordinate of {b.label!r}") for x in b.box]
        parts.append(f"v0={q[0]} v1={q[1]} v2={q[2]} v3={q[3]} {' '.join(b.label.split())}")
    return " ".join(parts)


def parse_det(
    text: str,
    *,
    bins: int = COORD_BINS,
    class_names: Collection[str] | None = None,
) -> ParseResult[Box]:
    """Boxes from (possibly malformed) detection text; never raises.

    A box is four values ``v0= v1= v2= v3=`` followed by one or more class words (up to the next
    ``v0=``). Dropped with a warning: incomplete or out-of-order coordinates, a missing class name,
    a class outside ``class_names`` (when given), and inverted boxes (``xmax < xmin`` or
    ``ymax < ymin``). Coordinates are returned as ``value / (bins − 1)``; scores are ``None``.
    """
    result: ParseResult[Box] = ParseResult()
    words = text_words(text, result.warnings)
    starts = [i for i, w in enumerate(words) if (v := read_value(w)) is not None and v[0] == 0]
    if words and (not starts or starts[0] > 0):
        lead = words[: starts[0] if starts else len(words)]
        result.warnings.append(f"skipped words before the first box: {clip_words(lead)!r}")
    for n, start in enumerate(starts):
        chunk = words[start : starts[n + 1] if n + 1 < len(starts) else len(words)]
        values, why = read_values(chunk, (0, 1, 2, 3), bins)
        if values is None:
            result.warnings.append(f"dropped box {clip_words(chunk)!r}: {why}")
            continue
        name_words = chunk[4:]
        if not name_words:
            result.warnings.append(f"dropped box {clip_words(chunk)!r}: no class name")
            continue
        if any(read_value(w) is not None for w in name_words):
            result.warnings.append(f"dropped box {clip_words(chunk)!r}: values mixed into the class name")
            continue
        name = " ".join(name_words)
        if class_names is not None and name not in class_names:
            result.warnings.append(f"dropped box {clip_words(chunk)!r}: unknown class {name!r}")
            continue
        x0, y0, x1, y1 = values
        if x1 < x0 or y1 < y0:
            result.warnings.append(f"dropped box {clip_words(chunk)!r}: inverted (max < min)")
            continue
        scale = bins - 1
        result.items.append(Box(label=name, box=(x0 / scale, y0 / scale, x1 / scale, y1 / scale)))
    return result


def boxes_as_dicts(boxes: Sequence[Box]) -> list[dict]:
    """``[{"class", "box", "score"}]`` mappings (the JSON shape of box files)."""
    return [{"class": b.label, "box": list(b.box), "score": b.score} for b in boxes]
