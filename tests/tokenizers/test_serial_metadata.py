"""Metadata <-> 4M-21's ``v1=<type> v0=<value>`` chunks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnimask.tokenizers.text import (
    FOURM_METADATA_FIELDS,
    MetadataField,
    metadata_chunks,
    metadata_values,
    parse_metadata,
    serialize_metadata,
)

FIELDS = {f.name: f for f in FOURM_METADATA_FIELDS}


def test_type_ids_and_binning_follow_4m21():
    assert [(f.name, f.type_id) for f in FOURM_METADATA_FIELDS][:3] == [
        ("original_width", 0), ("original_height", 1), ("caption_n_chars", 2),
    ]  # fmt: skip
    assert FIELDS["aesthetic_score"].type_id == 20 and FIELDS["occlusion_score"].type_id == 18
    assert sorted(f.type_id for f in FOURM_METADATA_FIELDS) == list(range(21))
    chunks = metadata_chunks(
        {
            "original_width": 640,  # 640 // 32
            "original_height": 100_000,  # clamped to 999
            "n_humans": 3,
            "caption_n_words": -2,  # clamped to 0
            "brightness": 128.0,  # int(128 / 255 * 49) = 24
            "entropy": 10.0,  # top of the range -> bin 49
            "geometric_complexity": 2.0,  # above vmax: clamped -> 49
            "watermark_score": 0.5,  # a value on a threshold goes to the upper bin
            "aesthetic_score": 5.49,
        }
    )
    assert chunks == [
        "v1=0 v0=20", "v1=1 v0=999", "v1=5 v0=3", "v1=3 v0=0", "v1=10 v0=24",
        "v1=13 v0=49", "v1=17 v0=49", "v1=19 v0=1", "v1=20 v0=1",
    ]  # fmt: skip


def test_serialize_order_rng_and_errors():
    meta = {"n_humans": 1, "original_width": 64, "colorfulness": 75.0, "walkability": 0.3}
    assert serialize_metadata(meta) == "v1=5 v0=1 v1=0 v0=2 v1=9 v0=24 v1=14 v0=14"
    shuffled = metadata_chunks(meta, rng=np.random.default_rng(3))
    assert sorted(shuffled) == sorted(metadata_chunks(meta))
    assert shuffled == metadata_chunks(meta, rng=np.random.default_rng(3))  # seeded: reproducible
    with pytest.raises(ValueError, match=r"unknown metadata keys \['n_cats'\]"):
        serialize_metadata({"n_cats": 2})
    with pytest.raises(ValueError, match="not a finite number"):
        serialize_metadata({"brightness": float("nan")})


def test_parse_decodes_representatives():
    result = parse_metadata("v1=0 v0=20 v1=10 v0=24 v1=10 v0=1 v1=20 v0=2 v1=19 v0=0 v1=5 v0=7 [EOS]")
    assert metadata_values(result) == {
        "original_width": 640,
        "brightness": pytest.approx(255 * 24.5 / 49),
        "aesthetic_score": 6.0,
        "watermark_score": 0.0,
        "n_humans": 7,
    }
    assert [e.bin for e in result] == [20, 24, 2, 0, 7]
    assert result.warnings == ["dropped repeated chunk 'v1=10 v0=1' (brightness)"]


@pytest.mark.parametrize(
    ("text", "names", "n_warnings"),
    [
        ("", [], 0),
        ("v0=3 v1=5 v0=2", ["n_humans"], 1),  # lead word
        ("v1=5", [], 1),  # no value
        ("v1=5 v0=2 v0=3", [], 1),  # extra value
        ("v1=77 v0=2", [], 1),  # unknown type
        ("v1=10 v0=50", [], 1),  # brightness has 50 bins
        ("v1=20 v0=3", [], 1),  # aesthetic has 3 bins
        ("v1=5 v2=3 v1=3 v0=9", ["caption_n_words"], 1),  # wrong axis
        ("v1=5 [S_2] v0=1", ["n_humans"], 1),  # sentinel dropped
        ("hello world", [], 1),
    ],
)
def test_parse_malformed(text, names, n_warnings):
    result = parse_metadata(text)
    assert [e.name for e in result] == names
    assert len(result.warnings) == n_warnings, result.warnings


def test_custom_schema():
    fields = (MetadataField(name="n_objects", type_id=0, kind="count"),
              MetadataField(name="light", type_id=1, kind="range", vmin=0.0, vmax=2.0, bins=5))  # fmt: skip
    text = serialize_metadata({"n_objects": 4, "light": 1.0}, fields=fields)
    assert text == "v1=0 v0=4 v1=1 v0=2"
    assert metadata_values(parse_metadata(text, fields=fields)) == {"n_objects": 4, "light": 1.25}


@st.composite
def _metadata(draw):
    keys = draw(st.lists(st.sampled_from(sorted(FIELDS)), unique=True, max_size=len(FIELDS)))
    out = {}
    for k in keys:
        f = FIELDS[k]
        if f.kind in ("image_dim", "count"):
            out[k] = draw(st.integers(0, 40_000))
        else:
            lo, hi = (f.vmin, f.vmax) if f.kind == "range" else (0.0, 10.0)
            out[k] = draw(st.floats(lo - 1, hi + 1, allow_nan=False))
    return out


@settings(max_examples=80, deadline=None)
@given(_metadata())
def test_roundtrip_property(meta):
    text = serialize_metadata(meta)
    parsed = parse_metadata(text)
    assert parsed.clean
    assert [e.name for e in parsed] == list(meta)
    assert serialize_metadata(metadata_values(parsed)) == text  # representatives stay in their bins
