"""The parsers never raise on arbitrary text, and every format survives the 4M tokenizer exactly."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_paths import FIXTURES

from omnimask.tokenizers.text import (
    Box,
    HumanPose,
    ParseResult,
    SamInstance,
    SamQuery,
    TextTokenizer,
    parse_det,
    parse_metadata,
    parse_palette,
    parse_poses,
    parse_sam,
    serialize_det,
    serialize_metadata,
    serialize_palette,
    serialize_poses,
    serialize_sam,
)

PARSERS = (parse_det, parse_metadata, parse_palette, parse_poses, parse_sam)
WORDS = [
    "v0=1", "v1=600", "v2=3", "v3=999", "v0=1000000", "v9=1", "v0=", "v=3", "=", "v0=-1", "v0=1.5",
    "v0=٣", "point", "polygon", "none", "human", "pose", "global", "camera", "shape", "cat", "dining",
    "table", "[EOS]", "[PAD]", "[SOS]", "[S_3]", "[UNK]", "##ing", "", "\n",
]  # fmt: skip
model_like_text = st.lists(st.sampled_from(WORDS), max_size=60).map(" ".join)


@settings(max_examples=150, deadline=None)
@given(st.one_of(model_like_text, st.text(max_size=80)))
def test_parsers_never_raise(text):
    for parse in PARSERS:
        result = parse(text)
        assert isinstance(result, ParseResult)
        assert all(isinstance(w, str) and w for w in result.warnings)


@pytest.mark.parametrize("parse", PARSERS)
def test_non_text_input_is_a_warning(parse):
    for junk in (None, 17, b"v0=1"):
        result = parse(junk)
        assert result.items == [] and len(result.warnings) == 1



SAMPLES = {
    "det": (serialize_det([Box("dining table", (0.0, 0.6, 1.0, 1.0)), Box("cat", (0.2, 0.2, 0.8, 0.7))]),
            parse_det),
    "metadata": (serialize_metadata({"original_width": 640, "brightness": 99.0, "aesthetic_score": 6.1}),
                 parse_metadata),
    "palette": (serialize_palette([(255, 0, 3), (17, 128, 64)]), parse_palette),
    "poses": (serialize_poses([HumanPose((0.1, 0.2, 0.3, 0.4), tuple(range(500, 508)), (0.0,) * 9,
                                         (0.5,) * 10, (1.0, 0.0, 2.0))]), parse_poses),
    "sam": (serialize_sam([SamQuery((3, 4), (SamInstance((1, 2, 30, 40), tuple(range(505, 521))),)),
                           SamQuery((9, 9))]), parse_sam),
}  # fmt: skip


@pytest.fixture(scope="module")
def released() -> TextTokenizer:
    path = FIXTURES / "text_tokenizer.json"
    if not path.is_file():
        pytest.skip(f"4M reference fixtures not found at {FIXTURES} (set OMNIMASK_REFERENCE_FIXTURES)")
    return TextTokenizer.from_file(path)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_formats_survive_released_tokenizer(released, name):
    tok = released
    text, parse = SAMPLES[name]
    ids = tok.encode(text)
    assert tok.unk_id not in ids
    assert tok.decode(ids) == text
    # what a model emits: the sequence, [EOS], then padding
    decoded = tok.decode([*ids, tok.eos_id, tok.pad_id, tok.pad_id], skip_special=True)
    assert decoded == text
    assert parse(decoded).clean and parse(decoded).items == parse(text).items


def test_synthworld_records_serialise_cleanly():
    synthworld = pytest.importorskip("omnimask.data.synthworld", reason="SynthWorld is not in this checkout")
    sample = synthworld.render_sample(0, 0, synthworld.SynthWorldConfig())
    det = serialize_det(sample["det"])  # {"class", "box", ...} records without scores: all kept
    assert len(parse_det(det, class_names=synthworld.SHAPES)) == len(sample["det"])
    meta = parse_metadata(serialize_metadata(sample["metadata"]))
    assert meta.clean and [e.name for e in meta] == list(sample["metadata"])
    palette = parse_palette(serialize_palette(sample["color_palette"]["colors"]))
    assert palette.clean and palette.items == [tuple(c) for c in sample["color_palette"]["colors"]]
