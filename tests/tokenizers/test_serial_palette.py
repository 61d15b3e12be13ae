"""Colour palettes <-> 4M-21's ``v1=n v0=r v0=g v0=b ...`` text."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnimask.tokenizers.text import parse_palette, serialize_palette


def test_format():
    assert serialize_palette([(255, 0, 10), (1, 2, 3)]) == "v1=2 v0=255 v0=0 v0=10 v0=1 v0=2 v0=3"
    assert serialize_palette([np.array([12.4, 12.6, 0.0])]) == "v1=1 v0=12 v0=13 v0=0"
    assert serialize_palette([(np.uint8(7), np.int64(8), 9)]) == "v1=1 v0=7 v0=8 v0=9"
    with pytest.raises(ValueError, match="at least one colour"):
        serialize_palette([])
    with pytest.raises(ValueError, match=r"\(r, g, b\)"):
        serialize_palette([(1, 2)])
    with pytest.raises(ValueError, match=r"in \[0, 255\]"):
        serialize_palette([(1, 2, 300)])


@pytest.mark.parametrize(
    ("text", "colors", "n_warnings"),
    [
        ("", [], 0),
        ("v1=1 v0=1 v0=2 v0=3 [EOS] [PAD]", [(1, 2, 3)], 0),
        ("v1=2 v0=1 v0=2 v0=3 v0=4", [(1, 2, 3)], 2),  # trailing channel, count mismatch
        ("v0=1 v0=2 v0=3", [(1, 2, 3)], 1),  # no size word
        ("v1=1 v0=1 v0=900 v0=2 v0=3", [(1, 2, 3)], 1),  # channel above 255
        ("v1=1 v0=1 red v0=2 v0=3", [(1, 2, 3)], 1),
        ("v1=3", [], 1),
    ],
)
def test_parse_malformed(text, colors, n_warnings):
    result = parse_palette(text)
    assert result.items == colors
    assert len(result.warnings) == n_warnings, result.warnings


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(*[st.integers(0, 255)] * 3), min_size=1, max_size=7))
def test_roundtrip_property(colors):
    text = serialize_palette(colors)
    parsed = parse_palette(text)
    assert parsed.clean and parsed.items == colors
    assert serialize_palette(parsed.items) == text
