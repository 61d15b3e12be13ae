"""SAM instances (4M-21's ``sam_instance`` modality) as text, and back.

4M-21 describes SAM instance masks through query points: for each point, the instances that contain
it, each as its box plus the ids of a mask tokenizer (16 ids from a 1024-entry codebook, a 4×4 grid)::

    point v0=Y v1=X polygon v0=XMIN v1=YMIN v2=XMAX v3=YMAX <16 ids> polygon … point v0=Y v1=X none …

All coordinates are integer pixels of the 224×224 image. Note the point's order: ``v0`` holds its
row (y) and ``v1`` its column (x), while boxes are ``x, y, x, y``. Token id ``k`` is written ``v0=k``
below 512 and ``v1=k−512`` above. A point inside no instance is followed by ``none``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from omnimask.tokenizers.text.serial.parsing import (
    ParseResult,
    clip_words,
    read_split_id,
    read_values,
    split_at,
    split_id_word,
    text_words,
)

#: 4M-21's SAM-instance settings: image size in pixels, mask-tokenizer ids per instance and codebook.
IMAGE_SIZE = 224
TOKENS_PER_INSTANCE = 16
MASK_VOCAB = 1024
#: Values are written with v0=..v3= tokens 0..999.
VALUE_BINS = 1000


@dataclass(frozen=True)
class SamInstance:
    """One instance: its pixel box ``(xmin, ymin, xmax, ymax)`` and its mask-tokenizer ids."""

    box: tuple[int, int, int, int]
    tokens: tuple[int, ...]


@dataclass(frozen=True)
class SamQuery:
    """A query point ``(x, y)`` in pixels and the instances that contain it (possibly none)."""

    point: tuple[int, int]
    instances: tuple[SamInstance, ...] = field(default_factory=tuple)


def _pixel(v: int, what: str) -> int:
    if int(v) != v or not 0 <= v < VALUE_BINS:
        raise ValueError(f"{what} {v!r} must be an integer pixel in [0, {VALUE_BINS})")
    return int(v)


def serialize_sam(queries: Iterable[SamQuery], *, tokens_per_instance: int = TOKENS_PER_INSTANCE) -> str:
    """4M-21's text for ``queries``, in the given order (4M-21 shuffles points and instances)."""
    words: list[str] = []
    for q in queries:
        x, y = (_pixel(c, "query point coordinate") for c in q.point)
        words += ["point", f"v0={y}", f"v1={x}"]
        if not q.instances:
            words.append("none")
        for inst in q.instances:
            if len(inst.tokens) != tokens_per_instance:
                raise ValueError(f"instance needs {tokens_per_instance} token ids, got {len(inst.tokens)}")
            box = [_pixel(c, "instance box coordinate") for c in inst.box]
            words += ["polygon"] + [f"v{a}={c}" for a, c in enumerate(box)]
            words += [split_id_word(k, MASK_VOCAB) for k in inst.tokens]
    return " ".join(words)


def _read_instance(words: Sequence[str], n_tokens: int) -> tuple[SamInstance | None, str]:
    box, why = read_values(list(words), (0, 1, 2, 3), VALUE_BINS)
    if box is None:
        return None, f"box: {why}"
    if box[0] >= box[2] or box[1] >= box[3]:
        return None, "empty box (min >= max)"
    ids = words[4:]
    if len(ids) != n_tokens:
        return None, f"expected {n_tokens} token ids, found {len(ids)}"
    tokens = [read_split_id(w) for w in ids]
    if None in tokens:
        return None, f"token {ids[tokens.index(None)]!r} is not a v0=/v1= value below 512"
    return SamInstance(box=tuple(box), tokens=tuple(tokens)), ""  # type: ignore[arg-type]


def parse_sam(text: str, *, tokens_per_instance: int = TOKENS_PER_INSTANCE) -> ParseResult[SamQuery]:
    """Query points and their instances from (possibly malformed) text; never raises.

    Dropped with a warning: words before the first ``point``, points without a readable
    ``v0=Y v1=X``, and instances whose box is unreadable or empty or whose id count is wrong (the
    point stays, with the instances that could be read).
    """
    result: ParseResult[SamQuery] = ParseResult()
    words = text_words(text, result.warnings)
    head, points = split_at(words, "point")
    if head:
        result.warnings.append(f"skipped words before the first point: {clip_words(head)!r}")
    for pw in points:
        yx, why = read_values(pw, (0, 1), VALUE_BINS)
        if yx is None:
            result.warnings.append(f"dropped point {clip_words(['point', *pw])!r}: {why}")
            continue
        rest, polygons = split_at(pw[2:], "polygon")
        extra = [w for w in rest if w != "none"]
        if extra:
            result.warnings.append(f"ignored words after point ({yx[1]}, {yx[0]}): {clip_words(extra)!r}")
        instances = []
        for poly in polygons:
            inst, why = _read_instance(poly, tokens_per_instance)
            if inst is None:
                result.warnings.append(f"dropped instance {clip_words(['polygon', *poly])!r}: {why}")
            else:
                instances.append(inst)
        if instances and "none" in rest:
            result.warnings.append(f"point ({yx[1]}, {yx[0]}) says 'none' but lists instances; kept them")
        result.items.append(SamQuery(point=(yx[1], yx[0]), instances=tuple(instances)))
    return result
