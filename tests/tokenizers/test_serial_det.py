"""Detection boxes <-> 4M's det text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnimask.tokenizers.text import COCO_CLASS_NAMES, Box, parse_det, serialize_det

# Raw det strings of the reference fixtures (forward_0/forward_2), written by 4M's DetectionTransform.
FIXTURE_STRINGS = [
    "v0=200 v1=200 v2=799 v3=699 cat v0=100 v1=500 v2=899 v3=949 laptop",
    "v0=150 v1=400 v2=400 v3=949 person v0=120 v1=599 v2=450 v3=989 bicycle "
    "v0=549 v1=380 v2=799 v3=969 person v0=519 v1=619 v2=859 v3=989 bicycle",
    "v0=300 v1=300 v2=450 v3=500 apple v0=250 v1=350 v2=749 v3=749 bowl "
    "v0=500 v1=280 v2=659 v3=480 orange v0=0 v1=599 v2=999 v3=999 dining table",
]


@pytest.mark.parametrize("text", FIXTURE_STRINGS)
def test_fixture_strings_roundtrip(text):
    parsed = parse_det(text, class_names=COCO_CLASS_NAMES)
    assert parsed.clean
    assert serialize_det(parsed.items, score_threshold=None) == text


def test_serialize_rules():
    boxes = [
        {"class": "dog", "box": [0.5, 0.5, 1.0, 1.0], "score": 0.9},
        Box("cat", (0.1, 0.2, 0.3, 0.4), score=0.6),  # exactly at the threshold: kept
        Box("bird", (0.0, 0.0, 0.1, 0.1), score=0.59),  # below: dropped
        {"label": "teddy  bear", "box": (0.2, 0.1, 0.3, 0.4)},  # no score: kept; spaces collapsed
    ]
    # sorted by xmin² + ymin² (0.05 for cat and teddy bear: stable), coords round(x · 999)
    assert serialize_det(boxes) == (
        "v0=100 v1=200 v2=300 v3=400 cat v0=200 v1=100 v2=300 v3=400 teddy bear "
        "v0=500 v1=500 v2=999 v3=999 dog"
    )
    assert serialize_det([Box("a", (0.5, 0.0, 1.0, 1.0))]).startswith("v0=500 ")  # 499.5 -> 500 (half-even)
    assert serialize_det([]) == ""
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        serialize_det([Box("cat", (0.1, 0.2, 1.3, 0.4))])
    with pytest.raises(ValueError, match="needs 'class'"):
        serialize_det([{"box": [0, 0, 1, 1]}])


@pytest.mark.parametrize(
    ("text", "labels", "n_warnings"),
    [
        ("", [], 0),
        ("[PAD] [PAD]", [], 0),
        ("v0=1 v1=2 v2=3 v3=4 cat v0=5 v1=6 dog v0=7 v1=8 v2=9 v3=10", ["cat"], 2),  # truncated, no class
        ("a photo v0=1 v1=2 v2=3 v3=4 hot dog [EOS] v0=1 [PAD]", ["hot dog"], 2),  # lead words, after EOS
        ("v0=1 v1=2 v2=3 v3=4 [S_3] cat", ["cat"], 1),  # sentinel dropped, box kept
        ("v0=9 v1=2 v2=3 v3=4 cat", [], 1),  # inverted
        ("v0=1 v2=2 v1=3 v3=4 cat", [], 1),  # out of order
        ("v0=1 v1=2 v2=3 v3=4000 cat", [], 1),  # value outside the bins
        ("v0=1 v1=2 v2=3 v3=4 cat v3=5 v0=1 v1=1 v2=2 v3=2 dog", ["dog"], 1),  # value inside the name
        ("v0=1 v1=2 v2=3 v3=4 unicorn v0=1 v1=1 v2=2 v3=2 dog", ["dog"], 1),  # unknown class
        ("[UNK] v0=1 v1=2 v2=3 v3=4 tv", ["tv"], 1),
    ],
)
def test_parse_malformed(text, labels, n_warnings):
    result = parse_det(text, class_names=COCO_CLASS_NAMES)
    assert [b.label for b in result] == labels
    assert len(result.warnings) == n_warnings, result.warnings


def test_parse_values():
    (box,) = parse_det("v0=0 v1=999 v2=999 v3=999 cat").items
    assert box == Box("cat", (0.0, 1.0, 1.0, 1.0), None)


_coord = st.integers(0, 999)


@st.composite
def _boxes(draw):
    n = draw(st.integers(0, 6))
    out = []
    for _ in range(n):
        x0, x1 = sorted((draw(_coord), draw(_coord)))
        y0, y1 = sorted((draw(_coord), draw(_coord)))
        out.append(Box(draw(st.sampled_from(COCO_CLASS_NAMES)), (x0 / 999, y0 / 999, x1 / 999, y1 / 999)))
    return out


@settings(max_examples=60, deadline=None)
@given(_boxes())
def test_roundtrip_property(boxes):
    text = serialize_det(boxes)
    parsed = parse_det(text, class_names=COCO_CLASS_NAMES)
    assert parsed.clean
    expected = sorted(boxes, key=lambda b: b.box[0] ** 2 + b.box[1] ** 2)
    assert [b.label for b in parsed] == [b.label for b in expected]
    for got, want in zip(parsed, expected):
        assert got.box == pytest.approx(want.box, abs=1e-12)
    assert serialize_det(parsed.items) == text
