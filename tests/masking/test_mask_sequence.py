"""T5-style span masking: the worked example, merge round trips, budgets, target cutting, layout, chunks."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnimask.masking import (
    EOS_ID,
    PAD_ID,
    SPECIAL_TOKENS,
    cut_target,
    input_length,
    is_sentinel,
    layout_sequence,
    merge_spans,
    prepare_chunks,
    prepare_sequence,
    sentinel_id,
    span_corrupt,
    span_mask,
    split_chunks,
    unpack_sequence,
)

S1, S2, S3 = sentinel_id(1), sentinel_id(2), sentinel_id(3)
A, B, C, D = 300, 301, 302, 303  # ordinary word ids (above the special and coordinate range start)
raw_ids = st.lists(st.integers(204, 29_999), min_size=0, max_size=40)


def test_special_token_ids():
    assert (PAD_ID, EOS_ID, S1, sentinel_id(0), sentinel_id(199)) == (0, 3, 5, 4, 203)
    assert SPECIAL_TOKENS[:6] == ("[PAD]", "[UNK]", "[SOS]", "[EOS]", "[S_0]", "[S_1]")
    assert len(SPECIAL_TOKENS) == 204
    assert is_sentinel(np.array([3, 4, 203, 204])).tolist() == [False, True, True, False]
    with pytest.raises(ValueError, match="200 sentinels"):
        sentinel_id(200)


def test_readme_example():
    ids = np.array([A, B, C, D, EOS_ID])
    inp, tgt = span_corrupt(ids, np.array([True, False, False, True, False]))
    assert inp.tolist() == [A, S1, D, S2]
    assert tgt.tolist() == [S1, B, C, S2, EOS_ID, S3]
    assert merge_spans(inp, tgt).tolist() == ids.tolist()


def test_prepare_sequence_appends_eos_and_truncates():
    assert prepare_sequence([A, B], 5).tolist() == [A, B, EOS_ID]
    assert prepare_sequence([A, B, C], 3).tolist() == [A, B, C]  # EOS cut off, as in 4M


@settings(max_examples=60, deadline=None)
@given(ids=raw_ids, data=st.data())
def test_merge_restores_original_for_any_keep_pattern(ids, data):
    ids = prepare_sequence(ids, 64)
    keep = np.array(data.draw(st.lists(st.booleans(), min_size=len(ids), max_size=len(ids))), dtype=bool)
    inp, tgt = span_corrupt(ids, keep)
    assert merge_spans(inp, tgt).tolist() == ids.tolist()
    assert len(inp) == input_length(keep)
    assert tgt[-1] == sentinel_id(int(is_sentinel(inp).sum()) + 1)  # closing sentinel
    assert inp[~is_sentinel(inp)].tolist() == ids[keep].tolist()


@settings(max_examples=60, deadline=None)
@given(
    ids=raw_ids,
    ib=st.integers(0, 45),
    tb=st.integers(0, 50),
    scheme=st.sampled_from(["random", "all", "binary"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_span_mask_respects_budgets(ids, ib, tb, scheme, seed):
    ids = prepare_sequence(ids, 40)
    inp, tgt = span_mask(ids, input_budget=ib, target_budget=tb, keep_scheme=scheme, rng=np.random.default_rng(seed))
    assert len(inp) <= ib and len(tgt) <= tb
    if ib == 0:
        assert len(inp) == 0
    if len(tgt):
        assert is_sentinel(tgt[0])  # a (cut) target always starts at a sentinel
    runs = int(is_sentinel(inp).sum())
    full = len(tgt) == len(ids) - (len(inp) - runs) + runs + 1  # the target was not cut
    if ib > 0 and full:
        assert merge_spans(inp, tgt).tolist() == ids.tolist()
    elif ib > 0:
        # a cut target still merges into a consistent partial sequence
        merged = merge_spans(inp, tgt, missing="drop")
        assert set(merged.tolist()) <= set(ids.tolist())


def test_input_budget_zero_drops_everything():
    ids = np.array([A, B, EOS_ID])
    inp, tgt = span_mask(ids, input_budget=0, target_budget=10, keep_scheme="all", rng=np.random.default_rng(0))
    assert inp.tolist() == [] and tgt.tolist() == [S1, A, B, EOS_ID, S2]


def test_keep_schemes():
    ids = prepare_sequence(list(range(300, 310)), 64)
    rng = np.random.default_rng(0)
    inp, tgt = span_mask(ids, input_budget=64, target_budget=64, keep_scheme="all", rng=rng)
    assert inp.tolist() == ids.tolist() and tgt.tolist() == [S1]
    seen = set()
    for seed in range(40):
        inp, tgt = span_mask(
            ids, input_budget=64, target_budget=64, keep_scheme="binary", rng=np.random.default_rng(seed)
        )
        assert inp.tolist() in (ids.tolist(), [S1])
        seen.add(len(inp))
    assert seen == {1, len(ids)}
    # "all" with a small budget decays the keep probability until the input fits
    inp, _ = span_mask(ids, input_budget=3, target_budget=64, keep_scheme="all", rng=rng)
    assert 1 <= len(inp) <= 3
    with pytest.raises(ValueError, match="keep scheme"):
        span_mask(ids, input_budget=3, target_budget=3, keep_scheme="sometimes", rng=rng)


def test_cut_target_rules():
    tgt = np.array([S1, A, B, S2, C, S3, D, D, D, sentinel_id(4)])
    # budget fits from every non-closing sentinel except when it would run off the end
    for seed in range(30):
        out = cut_target(tgt, 4, np.random.default_rng(seed))
        assert len(out) == 4 and is_sentinel(out[0])
        assert out.tolist() in ([S1, A, B, S2], [S2, C, S3, D], [S3, D, D, D])
    # from S3 only 5 tokens remain: a budget of 6 then falls back to the earliest sentinel whose suffix fits (S3)
    outs = {tuple(cut_target(tgt, 6, np.random.default_rng(s)).tolist()) for s in range(30)}
    assert outs == {(S1, A, B, S2, C, S3), (S2, C, S3, D, D, D), (S3, D, D, D, sentinel_id(4))}
    assert cut_target(tgt, 0, np.random.default_rng(0)).tolist() == []
    assert cut_target(tgt, 99, np.random.default_rng(0)) is tgt


def test_layout_and_polarity():
    inp, tgt = np.array([A, S1]), np.array([S1, B, S2])
    m = layout_sequence(inp, tgt, input_budget=4, target_budget=3, max_tokens=5)
    assert m.tensor.tolist() == [A, S1, 0, 0, S1, B, S2, 0, 0, 0, 0, 0]
    assert m.input_keep.tolist() == [True, True] + [False] * 10
    assert np.flatnonzero(m.target_keep).tolist() == [4, 5, 6]  # target starts at the budget, not at len(input)
    back_in, back_tgt = unpack_sequence(m.tensor, m.input_keep, m.target_keep)
    assert back_in.tolist() == inp.tolist() and back_tgt.tolist() == tgt.tolist()
    with pytest.raises(ValueError, match="do not fit"):
        layout_sequence(inp, tgt, input_budget=1, target_budget=3, max_tokens=5)


def test_merge_missing_spans():
    inp, tgt = np.array([A, S1, B, S2]), np.array([S2, C])
    with pytest.raises(ValueError, match="missing='keep'"):
        merge_spans(inp, tgt)
    assert merge_spans(inp, tgt, missing="keep").tolist() == [A, S1, B, C]
    assert merge_spans(inp, tgt, missing="drop").tolist() == [A, B, C]
    # spans after the closing sentinel (e.g. generated junk) are ignored
    assert merge_spans(np.array([A, S1]), np.array([S1, B, S2, D])).tolist() == [A, B]


def test_prepare_chunks_drops_whole_chunks():
    ids, lengths = prepare_chunks([[A, B], [C], [], [D, D, D]], 4)
    assert ids.tolist() == [A, B, C] and lengths.tolist() == [2, 1]  # [D D D] and [EOS] dropped whole
    ids, lengths = prepare_chunks([[A, B], [C]], 10)
    assert ids.tolist() == [A, B, C, EOS_ID] and lengths.tolist() == [2, 1, 1]
    assert prepare_chunks([[A, B, C]], 2)[0].tolist() == []


def test_split_chunks():
    v1 = {1204, 1205}
    assert split_chunks([1204, 210, 1205, 211, 212], v1) == [[1204, 210], [1205, 211, 212]]
    assert split_chunks([7, 1204, 210], v1) == [[7], [1204, 210]]


@settings(max_examples=50, deadline=None)
@given(
    chunks=st.lists(st.lists(st.integers(204, 29_999), min_size=1, max_size=4), max_size=10),
    ib=st.integers(0, 30),
    seed=st.integers(0, 2**32 - 1),
    data=st.data(),
)
def test_chunk_masking_never_splits_a_chunk(chunks, ib, seed, data):
    ids, lengths = prepare_chunks(chunks, 30)
    bounds = np.cumsum(lengths)
    units = [ids[e - n : e].tolist() for e, n in zip(bounds, lengths)]
    # explicit patterns: merge restores, and every unit is contiguous in the input or in the target
    keep = np.array(data.draw(st.lists(st.booleans(), min_size=len(units), max_size=len(units))), dtype=bool)
    inp, tgt = span_corrupt(ids, keep, lengths)
    assert merge_spans(inp, tgt).tolist() == ids.tolist()
    assert len(inp) == input_length(keep, lengths)
    # random masking within a budget (target budget large enough to stay whole)
    inp, tgt = span_mask(
        ids, input_budget=ib, target_budget=99, keep_scheme="random", lengths=lengths, rng=np.random.default_rng(seed)
    )
    assert len(inp) <= ib
    whole_runs = {tuple(ids[b - n : e].tolist()) for b, n in zip(bounds, lengths) for e in bounds if e >= b}
    for piece in _split_at_sentinels(inp) + _split_at_sentinels(tgt):  # pieces between sentinels: whole chunks
        assert not piece or tuple(piece) in whole_runs, f"{piece} is not a run of whole chunks of {units}"


def _split_at_sentinels(seq):
    out, cur = [], []
    for t in seq.tolist():
        if is_sentinel(t):
            out.append(cur)
            cur = []
        else:
            cur.append(t)
    return [*out, cur]
