"""Colour palettes (4M-21's ``color_palette`` modality) as text, and back.

4M-21 writes a palette of ``n`` RGB colours (1 to 7 in its data, each channel an integer 0..255) as the
count followed by the channels in order::

    v1=3 v0=R1 v0=G1 v0=B1 v0=R2 v0=G2 v0=B2 v0=R3 v0=G3 v0=B3
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence

from omnimask.tokenizers.text.serial.parsing import ParseResult, clip_words, read_value, text_words

Color = tuple[int, int, int]

#: palette sizes seen in 4M-21's data (a palette of n colours is drawn with n uniform in 1..7).
MAX_COLORS = 7


def _channel(x: float) -> int:
    if not isinstance(x, numbers.Real) or not math.isfinite(x) or not -0.5 <= x < 255.5:
        raise ValueError(f"colour channel {x!r} must be a number in [0, 255]")
    return round(x)


def serialize_palette(colors: Iterable[Sequence[float]]) -> str:
    """4M-21's text for ``colors``, a list of ``(r, g, b)`` with channels in 0..255 (rounded)."""
    cols = [tuple(c) for c in colors]
    if not cols:
        raise ValueError("a palette needs at least one colour")
    if any(len(c) != 3 for c in cols):
        raise ValueError(f"every colour must be (r, g, b); got {cols}")
    words = [f"v1={len(cols)}"] + [f"v0={_channel(x)}" for c in cols for x in c]
    return " ".join(words)


def parse_palette(text: str) -> ParseResult[Color]:
    """Colours from (possibly malformed) palette text; never raises.

    The leading ``v1=n`` is checked against the colours found (a mismatch is a warning; the colours
    found are kept). Dropped with a warning: words that are not ``v0=`` values, channels above 255,
    and a trailing incomplete colour.
    """
    result: ParseResult[Color] = ParseResult()
    words = text_words(text, result.warnings)
    declared = None
    if words and (head := read_value(words[0])) is not None and head[0] == 1:
        declared = head[1]
        words = words[1:]
    elif words:
        result.warnings.append(f"palette does not start with its size v1=<n>: {clip_words(words)!r}")
    channels: list[int] = []
    for w in words:
        v = read_value(w)
        if v is None or v[0] != 0:
            result.warnings.append(f"dropped word {w!r}: expected v0=<channel>")
        elif v[1] > 255:
            result.warnings.append(f"dropped channel {w!r}: above 255")
        else:
            channels.append(v[1])
    if len(channels) % 3:
        result.warnings.append(f"dropped {len(channels) % 3} trailing channel(s) of an incomplete colour")
    result.items = [tuple(channels[i : i + 3]) for i in range(0, len(channels) - 2, 3)]  # type: ignore[misc]
    if declared is not None and declared != len(result.items):
        result.warnings.append(f"palette declares {declared} colour(s) but {len(result.items)} were read")
    return result
