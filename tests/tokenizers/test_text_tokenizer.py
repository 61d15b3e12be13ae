"""TextTokenizer against 4M's released 30k WordPiece file and the reference fixtures."""

from __future__ import annotations

import json

import numpy as np
import pytest
from reference_paths import FIXTURES
from tokenizers import Tokenizer
from tokenizers.models import WordLevel

from omnimask.tokenizers.text import COCO_CLASS_NAMES, TextLayoutError, TextTokenizer, parse_det

RELEASED = FIXTURES / "text_tokenizer.json"

needs_fixtures = pytest.mark.skipif(
    not RELEASED.is_file(),
    reason=f"4M reference fixtures not found at {FIXTURES} (set OMNIMASK_REFERENCE_FIXTURES to their directory)",
)


@pytest.fixture(scope="module")
def released() -> TextTokenizer:
    if not RELEASED.is_file():
        pytest.skip(f"4M reference fixtures not found at {FIXTURES} (set OMNIMASK_REFERENCE_FIXTURES)")
    return TextTokenizer.from_file(RELEASED)


@needs_fixtures
def test_released_layout_ids(released):
    assert released.vocab_size == 30_000
    assert (released.pad_id, released.unk_id, released.sos_id, released.eos_id) == (0, 1, 2, 3)
    assert released.num_sentinels == 200
    assert [released.sentinel_id(k) for k in (0, 1, 2, 199)] == [4, 5, 6, 203]
    assert released.id_to_token(5) == "[S_1]" and released.id_to_token(203) == "[S_199]"
    assert released.coord_id(0, 0) == 204 and released.id_to_token(204) == "v0=0"
    assert released.coord_id(1, 0) == 1204 and released.coord_id(2, 0) == 2204
    assert released.coord_id(3, 999) == 4203 and released.id_to_token(4203) == "v3=999"
    assert released.class_names == COCO_CLASS_NAMES
    assert released.token_to_id("airplane") == 4204 and released.token_to_id("zebra") == 4283
    assert released.layout.first_wordpiece_id == 4284
    with pytest.raises(IndexError):
        released.sentinel_id(200)


@needs_fixtures
def test_generation_case_caption_ids(released):
    case = json.loads((FIXTURES / "cases/generate_caption2rgb_maskgit8_cfg3.json").read_text())
    ids = np.load(FIXTURES / "cases/generate_caption2rgb_maskgit8_cfg3.npz")["init.caption.tensor"][0]
    assert case["caption_text"] == "a red cube next to a blue sphere [S_1]"
    expected = [4321, 5135, 12798, 5472, 4953, 4321, 5172, 13805, 5]
    assert released.encode(case["caption_text"]) == expected == ids[:9].tolist()


def _segments(ids: list[int], tok: TextTokenizer) -> list[list[int]]:
    """Runs of ids between sentinels (pad removed)."""
    out: list[list[int]] = [[]]
    for i in ids:
        if tok.is_sentinel(i):
            out.append([])
        elif i != tok.pad_id:
            out[-1].append(i)
    return [s for s in out if s]


def _contains(seq: list[int], part: list[int]) -> bool:
    return any(seq[i : i + len(part)] == part for i in range(len(seq) - len(part) + 1))


@needs_fixtures
@pytest.mark.parametrize("case", sorted(p.stem for p in (FIXTURES / "cases").glob("forward_*.json")) or ["none"])
def test_forward_cases_hold_encoded_raw_text(released, case):
    """Every span the official masking kept is a contiguous run of encode(raw text) + [EOS]."""
    meta = json.loads((FIXTURES / f"cases/{case}.json").read_text())
    z = np.load(FIXTURES / f"cases/{case}.npz")
    matched = 0
    for mod in ("caption", "det"):
        tensor = z[f"in.{mod}.tensor"]
        for b, sample in enumerate(meta["samples"]):
            full = [*released.encode(sample["raw_text"][mod]), released.eos_id]
            for mask in ("input_mask", "target_mask"):
                kept = tensor[b][~z[f"in.{mod}.{mask}"][b]].tolist()  # False = part of this sequence
                for seg in _segments(kept, released):
                    assert _contains(full, seg), (mod, b, mask, seg, full)
                    matched += len(seg)
    assert matched > 0


@needs_fixtures
def test_forward_2_det_target_is_the_whole_serialised_string(released):
    meta = json.loads((FIXTURES / "cases/forward_2.json").read_text())
    z = np.load(FIXTURES / "cases/forward_2.npz")
    raw = meta["samples"][0]["raw_text"]["det"]
    target = z["in.det.tensor"][0][~z["in.det.target_mask"][0]].tolist()
    assert target == [released.sentinel_id(1), *released.encode(raw), released.eos_id, released.sentinel_id(2)]
    boxes = parse_det(released.decode(target, skip_special=True))
    assert boxes.clean
    assert [b.label for b in boxes] == ["apple", "bowl", "orange", "dining table"]


@needs_fixtures
def test_encode_adds_no_specials_and_matches_class_tokens(released):
    ids = released.encode("v0=200 v1=200 v2=799 v3=699 Hot Dog and a hotdog")
    assert ids[:5] == [404, 1404, 3003, 3903, released.token_to_id("hot dog")]
    assert released.eos_id not in ids and released.sos_id not in ids
    assert released.encode_batch(["a cat", "a dog"]) == [released.encode("a cat"), released.encode("a dog")]


@needs_fixtures
def test_decode_keeps_boxes_and_classes_but_skips_control_tokens(released):
    ids = [released.sentinel_id(1), 404, 1404, 3003, 3903, 4231, released.eos_id, 0, 0]
    assert released.decode(ids) == "[S_1] v0=200 v1=200 v2=799 v3=699 dining table [EOS] [PAD] [PAD]"
    assert released.decode(ids, skip_special=True) == "v0=200 v1=200 v2=799 v3=699 dining table"
    assert released.decode(ids, stop_at_eos=True) == "[S_1] v0=200 v1=200 v2=799 v3=699 dining table"
    assert released.decode(np.array(ids, dtype=np.int32), skip_special=True).endswith("dining table")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        released.decode([30_000])


@needs_fixtures
def test_save_roundtrip_and_card(released, tmp_path):
    out = released.save_pretrained(tmp_path / "tok")
    again = TextTokenizer.from_file(out)
    assert again.layout == released.layout
    text = "a red cube next to a blue sphere v0=3 v3=999 teddy bear"
    assert again.encode(text) == released.encode(text)
    card = json.loads((out / "config.json").read_text())
    assert card["vocab_size"] == 30_000 and card["adds_special_tokens"] is False
    assert card["layout"]["coordinates"] == {"first_id": 204, "axes": 4, "bins": 1000, "format": "v{axis}={value}"}
    assert card["normalizer"]["lowercase"] is True


def test_file_without_4m_layout_is_refused(tmp_path):
    plain = Tokenizer(WordLevel({"[UNK]": 0, "[PAD]": 1, "hello": 2}, unk_token="[UNK]"))
    path = tmp_path / "plain.json"
    plain.save(str(path))
    with pytest.raises(TextLayoutError, match=r"plain\.json: id 0 is '\[UNK\]', expected '\[PAD\]'"):
        TextTokenizer.from_file(path)
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(TextLayoutError, match="not a HuggingFace tokenizers JSON"):
        TextTokenizer.from_file(tmp_path / "junk.json")
    with pytest.raises(FileNotFoundError, match="no tokenizer file"):
        TextTokenizer.from_file(tmp_path / "missing.json")
