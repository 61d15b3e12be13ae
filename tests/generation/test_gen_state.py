"""Generation state operations: set-up layouts (README §8.2), commits, emptying, merging spans."""

from __future__ import annotations

import pytest
import torch

from omnimask.batch import ModalityBatch
from omnimask.generation.state import (
    commit,
    emptied,
    empty_target,
    full_condition,
    merge_generated,
    merge_span_ids,
    pending,
    sequence_from_ids,
    stack_views,
    without_inputs,
)
from omnimask.modalities import ModalitySpec

GRID = ModalitySpec(name="tok", kind="image_tokens", vocab_size=10, num_tokens=4, grid=(2, 2), patch_size=1)
SEQ = ModalitySpec(name="cap", kind="sequence", vocab_size=300, num_tokens=6)
S1, S2, S3, EOS = 5, 6, 7, 3


def test_empty_targets():
    img = empty_target(GRID, 2)
    assert img.tensor.tolist() == [[0] * 4] * 2 and not img.input_keep.any() and img.target_keep.all()
    seq = empty_target(SEQ, 1)
    assert seq.tensor.tolist() == [[S1, S1, 0, 0, 0, S2]]
    assert seq.input_keep.tolist() == [[True, False, False, False, False, False]]
    assert torch.equal(seq.target_keep, ~seq.input_keep)
    assert empty_target(SEQ, 1, num_tokens=4).tensor.tolist() == [[S1, S1, 0, S2]]
    with pytest.raises(ValueError, match="at least 3"):
        empty_target(SEQ, 1, num_tokens=2)


def test_full_sequence_condition_stops_at_eos():
    ids, lengths = sequence_from_ids([[220, 221], [222]])
    assert ids.tolist() == [[220, 221, EOS], [222, EOS, 0]] and lengths.tolist() == [3, 2]
    mb = full_condition(SEQ, ids)
    assert mb.input_keep.tolist() == [[True, True, True], [True, True, False]] and not mb.target_keep.any()


def test_commit_ignores_padding_that_repeats_a_real_position():
    mb = empty_target(GRID, 2)
    positions = torch.tensor([[0, 2], [0, 0]])  # row 1: the real entry 0 and a padding copy of it
    tokens = torch.tensor([[7, 8], [9, 1]])
    valid = torch.tensor([[True, True], [True, False]])
    out = commit(mb, positions, tokens, valid)
    assert out.tensor.tolist() == [[7, 0, 8, 0], [9, 0, 0, 0]]
    assert out.input_keep.tolist() == [[True, False, True, False], [True, False, False, False]]
    assert torch.equal(out.target_keep, ~out.input_keep)
    assert mb.tensor.sum() == 0  # the input is never modified


def test_pending_is_ascending_and_padded():
    mb = ModalityBatch(torch.zeros(2, 4, dtype=torch.long), torch.zeros(2, 4, dtype=torch.bool),
                       torch.tensor([[False, True, True, False], [True, False, False, False]]))
    positions, keep = pending(mb)
    assert positions.tolist() == [[1, 2], [0, 0]] and keep.tolist() == [[True, True], [True, False]]


def test_emptied_and_dropped_conditions():
    ids, lengths = sequence_from_ids([[220, 221, 222]])
    cap = full_condition(SEQ, ids, lengths)
    e = emptied(cap, SEQ)
    assert e.tensor.tolist() == [[S1, S1, 0, S2]] and e.input_keep.tolist() == [[True, False, False, False]]
    img = emptied(full_condition(GRID, torch.tensor([[1, 2, 3, 4]])), GRID)
    assert img.tensor.tolist() == [[1, 2, 3, 4]] and not img.input_keep.any()
    assert not without_inputs(cap).input_keep.any() and not without_inputs(cap).target_keep.any()


def test_stack_views_needs_the_same_modalities():
    a = {"tok": empty_target(GRID, 1)}
    assert stack_views([a, a])["tok"].tensor.shape == (2, 4)
    with pytest.raises(ValueError, match="different modalities"):
        stack_views([a, {"cap": empty_target(SEQ, 1)}])


def test_merge_follows_the_release():
    # each input sentinel takes its span; a sentinel seen twice gathers both spans; others vanish
    merged = merge_span_ids([210, S1, 211, S2], [S1, 220, 221, S2, 222, S1, 223, S3, 224])
    assert merged == [210, 220, 221, 223, 211, 222]
    assert merge_span_ids([S1], [S1, 220, EOS, 221]) == [220, EOS, 221]
    assert merge_span_ids([210, S2], [S1, 220]) == [210]  # no span: the sentinel disappears


def test_merge_generated_pads_and_cuts_rows_at_their_stop():
    mb = empty_target(SEQ, 2)
    generated = torch.tensor([[S1, 220, 221, S2, 230], [S1, 240, 241, 242, 243]])
    out = merge_generated(mb, generated, torch.tensor([S2, S2]))
    assert out.tensor.tolist() == [[220, 221, 0, 0], [240, 241, 242, 243]]
    assert out.input_keep.tolist() == [[True, True, False, False], [True] * 4] and not out.target_keep.any()
    quirk = merge_generated(mb, generated, torch.tensor([S2, S2]), target_keep_is_input_keep=True)
    assert torch.equal(quirk.target_keep, quirk.input_keep)
    # a text placeholder stops at [EOS], which is kept (it is not a sentinel)
    ids, _ = sequence_from_ids([[210, S1]], eos=False)
    text = ModalityBatch(ids, torch.ones_like(ids, dtype=torch.bool), torch.zeros_like(ids, dtype=torch.bool))
    merged = merge_generated(text, torch.tensor([[S1, 220, EOS, 221]]), torch.tensor([EOS]))
    assert merged.tensor.tolist() == [[210, 220, EOS]]
