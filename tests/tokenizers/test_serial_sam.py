"""SAM instances <-> 4M-21's ``point ... polygon ...`` text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnimask.tokenizers.text import SamInstance, SamQuery, parse_sam, serialize_sam

TOKENS = (0, 1, 511, 512, 513, 1023, *range(10))
QUERIES = [
    SamQuery(point=(30, 100), instances=(SamInstance(box=(10, 20, 60, 200), tokens=TOKENS),)),
    SamQuery(point=(5, 6)),
]
TEXT = (
    "point v0=100 v1=30 polygon v0=10 v1=20 v2=60 v3=200 "
    "v0=0 v0=1 v0=511 v1=0 v1=1 v1=511 v0=0 v0=1 v0=2 v0=3 v0=4 v0=5 v0=6 v0=7 v0=8 v0=9 "
    "point v0=6 v1=5 none"
)


def test_format_point_is_row_then_column():
    assert serialize_sam(QUERIES) == TEXT
    assert serialize_sam([]) == ""
    with pytest.raises(ValueError, match="needs 16 token ids"):
        serialize_sam([SamQuery((1, 1), (SamInstance((0, 0, 5, 5), (1, 2)),))])
    with pytest.raises(ValueError, match="integer pixel"):
        serialize_sam([SamQuery((1.5, 1))])


def test_parse_exact():
    result = parse_sam(TEXT + " [EOS] [PAD]")
    assert result.clean
    assert result.items == QUERIES


@pytest.mark.parametrize(
    ("text", "points", "instances", "n_warnings"),
    [
        ("", 0, 0, 0),
        ("point v0=1 v1=2 none", 1, 0, 0),
        ("point v0=1 none", 0, 0, 1),  # point lacks its column
        ("junk " + TEXT, 2, 1, 1),
        (TEXT.replace("v0=9 ", ""), 2, 0, 1),  # 15 ids
        (TEXT.replace("v2=60", "v2=5"), 2, 0, 1),  # empty box (xmax < xmin)
        (TEXT.replace("v1=511 v0=0", "v1=700 v0=0"), 2, 0, 1),  # id value out of range
        (TEXT.replace("v1=20 ", ""), 2, 0, 1),  # box short of a value
        (TEXT + " polygon", 2, 1, 1),  # dangling polygon of the none point
        (TEXT.replace("point v0=6 v1=5 none", "point v0=6 v1=5 none maybe"), 2, 1, 1),
        ("point " * 3, 0, 0, 3),
    ],
)
def test_parse_malformed(text, points, instances, n_warnings):
    result = parse_sam(text)
    assert len(result) == points
    assert sum(len(q.instances) for q in result) == instances
    assert len(result.warnings) == n_warnings, result.warnings


_px = st.integers(0, 223)


@st.composite
def _query(draw):
    insts = []
    for _ in range(draw(st.integers(0, 3))):
        x0, x1 = sorted(draw(st.lists(_px, min_size=2, max_size=2, unique=True)))
        y0, y1 = sorted(draw(st.lists(_px, min_size=2, max_size=2, unique=True)))
        tokens = tuple(draw(st.lists(st.integers(0, 1023), min_size=16, max_size=16)))
        insts.append(SamInstance(box=(x0, y0, x1, y1), tokens=tokens))
    return SamQuery(point=(draw(_px), draw(_px)), instances=tuple(insts))


@settings(max_examples=50, deadline=None)
@given(st.lists(_query(), max_size=4))
def test_roundtrip_property(queries):
    text = serialize_sam(queries)
    parsed = parse_sam(text)
    assert parsed.clean and parsed.items == queries


def test_none_contradicted_by_instances():
    text = TEXT.replace("v1=30 polygon", "v1=30 none polygon")
    result = parse_sam(text)
    assert result.items == QUERIES
    assert result.warnings == ["point (30, 100) says 'none' but lists instances; kept them"]
