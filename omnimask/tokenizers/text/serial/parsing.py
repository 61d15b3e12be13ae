"""The tolerant-parse core shared by the structured-modality parsers.

Model output is arbitrary text: truncated boxes, stray sentinels, values out of range, words where
numbers belong. A parser here never raises on such input; it returns a :class:`ParseResult` with the
items it could read and one warning per thing it dropped. This module holds the pieces every parser
uses: splitting decoded text into words (dropping control tokens), reading ``v{axis}={value}`` words,
and cutting a word list at marker words (``human``, ``point``, ``polygon``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from omnimask.tokenizers.text.special import EOS, PAD, SENTINEL_RE, SOS

T = TypeVar("T")

_VALUE_RE = re.compile(r"^v([0-9])=([0-9]{1,6})$")


@dataclass
class ParseResult(Generic[T]):
    """What a parser could read (``items``) and what it dropped (``warnings``, one line each)."""

    items: list[T] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """True when nothing was dropped."""
        return not self.warnings

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def text_words(text: object, warnings: list[str]) -> list[str]:
    """Whitespace-separated words of decoded model text, control tokens removed.

    Everything from the first ``[EOS]`` on is ignored (a warning if it holds more than padding);
    ``[PAD]`` and ``[SOS]`` are dropped silently; sentinels ``[S_k]`` mark spans the model never
    filled and are dropped with a warning. ``[UNK]`` stays: it is an unreadable word for the caller.
    Non-string input yields no words and a warning.
    """
    if not isinstance(text, str):
        warnings.append(f"expected text, got {type(text).__name__}; nothing parsed")
        return []
    words = text.split()
    if EOS in words:
        cut = words.index(EOS)
        rest = [w for w in words[cut + 1 :] if w != PAD]
        if rest:
            warnings.append(f"ignored {len(rest)} word(s) after {EOS}")
        words = words[:cut]
    out = []
    sentinels = 0
    for w in words:
        if w in (PAD, SOS):
            continue
        if SENTINEL_RE.match(w):
            sentinels += 1
            continue
        out.append(w)
    if sentinels:
        warnings.append(f"dropped {sentinels} sentinel token(s) (unfilled masked spans)")
    return out


def read_value(word: str) -> tuple[int, int] | None:
    """``"v2=417"`` -> ``(2, 417)``; anything else -> ``None``."""
    m = _VALUE_RE.match(word)
    return (int(m.group(1)), int(m.group(2))) if m else None


def read_values(words: list[str], axes: tuple[int, ...], bins: int) -> tuple[list[int] | None, str]:
    """Read ``len(axes)`` value words with the given axes from the front of ``words``.

    Returns the values and ``""``, or ``None`` and the reason they could not be read.
    """
    if len(words) < len(axes):
        return None, f"expected {len(axes)} values, found {len(words)} word(s)"
    values = []
    for want, word in zip(axes, words):
        parsed = read_value(word)
        if parsed is None:
            return None, f"expected v{want}=<value>, found {word!r}"
        axis, value = parsed
        if axis != want:
            return None, f"expected v{want}=<value>, found {word!r}"
        if value >= bins:
            return None, f"value {word!r} outside [0, {bins})"
        values.append(value)
    return values, ""


def split_at(words: list[str], marker: str) -> tuple[list[str], list[list[str]]]:
    """Cut ``words`` at each occurrence of ``marker``.

    Returns the words before the first marker and, for each marker, the words that follow it up to
    the next one (the marker itself excluded).
    """
    head: list[str] = []
    groups: list[list[str]] = []
    for w in words:
        if w == marker:
            groups.append([])
        elif groups:
            groups[-1].append(w)
        else:
            head.append(w)
    return head, groups


def clip_words(words: list[str], limit: int = 6) -> str:
    """A short quotation of ``words`` for a warning."""
    shown = " ".join(words[:limit])
    return shown + (" …" if len(words) > limit else "")


#: 4M-21 writes ids of its 1024-entry pose and SAM-mask codebooks as ``v0=k`` below 512, ``v1=k−512`` above.
SPLIT_HALF = 512


def split_id_word(k: int, vocab: int = 2 * SPLIT_HALF) -> str:
    """``37 -> "v0=37"``, ``600 -> "v1=88"``; raises ``ValueError`` for ids outside ``[0, vocab)``."""
    if int(k) != k or not 0 <= k < vocab:
        raise ValueError(f"token id {k!r} outside [0, {vocab})")
    k = int(k)
    return f"v0={k}" if k < SPLIT_HALF else f"v1={k - SPLIT_HALF}"


def read_split_id(word: str) -> int | None:
    """Inverse of :func:`split_id_word`; ``None`` for anything else (other axes, values >= 512)."""
    v = read_value(word)
    if v is None or v[0] not in (0, 1) or v[1] >= SPLIT_HALF:
        return None
    return v[1] + SPLIT_HALF * v[0]
