"""The generation state (a :data:`~omnimask.batch.Batch`) and the pure operations on it.

During generation every modality lives in one Batch (True = keep): conditions are inputs, targets
are decoder targets, and a committed token moves from target to input — exactly the reference's
bookkeeping (fixture README §8.2–8.3), with our mask polarity:

* :func:`empty_target` — image-like: zeros, no inputs, every position a target; sequence with n
  slots: ``[S_1] [S_1] 0 … 0 [S_2]``, position 0 the only input, positions 1…n−1 targets.
* :func:`full_condition` — every position an input (pixels, token grids, or sequences up to ``[EOS]``).
* :func:`commit` — tokens written at positions, which become inputs and stop being targets.
* :func:`emptied` — a condition removed for the unconditional pass of classifier-free guidance:
  image-like: no inputs; sequence: rewritten as an empty target (only its ``[S_1]`` is an input).
* :func:`without_inputs` — a modality that takes no part at all (multi-condition guidance).
* :func:`merge_generated` — an autoregressively generated span merged back into its sequence.

Every function returns new objects and never writes into its arguments.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import torch

from omnimask.batch import Batch, ModalityBatch
from omnimask.modalities import ModalitySpec
from omnimask.tokenizers.text.special import EOS_ID, PAD_ID, is_sentinel, sentinel_id

S1 = sentinel_id(1)
S2 = sentinel_id(2)


def empty_target(spec: ModalitySpec, batch: int, num_tokens: int | None = None,
                 device: torch.device | str = "cpu") -> ModalityBatch:
    """A target to generate from scratch: (B, N) for token grids, (B, n) placeholder for sequences.

    ``num_tokens`` is the sequence placeholder length including its input position 0 (the
    release's ``tokens_per_target``; default ``spec.num_tokens``). Grids always use ``spec.num_tokens``.
    """
    if spec.predictable and spec.positional:
        n = spec.num_tokens
        return ModalityBatch(
            torch.zeros(batch, n, dtype=torch.long, device=device),
            torch.zeros(batch, n, dtype=torch.bool, device=device),
            torch.ones(batch, n, dtype=torch.bool, device=device),
        )
    if spec.is_sequence:
        n = num_tokens or spec.num_tokens
        if n < 3:
            raise ValueError(f"{spec.name}: a sequence placeholder needs at least 3 slots, got {n}")
        return _empty_sequence(batch, n, device)
    raise ValueError(f"{spec.name}: a {spec.kind} modality cannot be generated (it has no output head)")


def _empty_sequence(batch: int, n: int, device: torch.device | str) -> ModalityBatch:
    tensor = torch.zeros(batch, n, dtype=torch.long, device=device)
    tensor[:, :2] = S1
    tensor[:, -1] = S2
    input_keep = torch.zeros(batch, n, dtype=torch.bool, device=device)
    input_keep[:, 0] = True
    return ModalityBatch(tensor, input_keep, ~input_keep)


def full_condition(spec: ModalitySpec, tensor: torch.Tensor, lengths: torch.Tensor | None = None) -> ModalityBatch:
    """A fully given condition: every position is an encoder input.

    Args:
        spec: the modality.
        tensor: pixels (B, C, H, W), ids (B, N), vectors (B, N, C) or sequence ids (B, L).
        lengths: sequences only — (B,) number of real tokens per row (the rest is padding);
            default: up to and including the first ``[EOS]`` of each row, else the whole row.
    """
    b = tensor.shape[0]
    if spec.is_sequence:
        ids = tensor.long()
        length = ids.shape[1]
        if lengths is None:
            is_eos = ids == EOS_ID
            first = torch.where(is_eos.any(1), is_eos.float().argmax(1) + 1, torch.full_like(ids[:, 0], length))
            lengths = first
        keep = torch.arange(length, device=ids.device)[None] < lengths.to(ids.device)[:, None]
        return ModalityBatch(ids, keep, torch.zeros_like(keep))
    n = spec.num_tokens
    keep = torch.ones(b, n, dtype=torch.bool, device=tensor.device)
    values = tensor.long() if spec.is_discrete else tensor.float()
    return ModalityBatch(values, keep, torch.zeros_like(keep))


def sequence_from_ids(rows: Sequence[Sequence[int]], *, eos: bool = True,
                      device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Ragged id lists -> (B, L) ids right-padded with ``[PAD]`` and (B,) lengths (``[EOS]`` appended if asked)."""
    rows = [[*map(int, r), *([EOS_ID] if eos else [])] for r in rows]
    width = max(1, max(len(r) for r in rows))
    tensor = torch.full((len(rows), width), PAD_ID, dtype=torch.long, device=device)
    for i, r in enumerate(rows):
        tensor[i, : len(r)] = torch.tensor(r, dtype=torch.long, device=device)
    return tensor, torch.tensor([len(r) for r in rows], device=device)


def commit(mb: ModalityBatch, positions: torch.Tensor, tokens: torch.Tensor,
           valid: torch.Tensor | None = None) -> ModalityBatch:
    """Write ``tokens`` (B, k) at ``positions`` (B, k): they become inputs and stop being targets.

    ``valid`` (B, k) bool marks the entries to apply; the others (padding of ragged rows, which may
    repeat a real position) change nothing.
    """
    flag = torch.ones_like(positions, dtype=torch.bool) if valid is None else valid
    hit = torch.zeros_like(mb.tensor, dtype=torch.long).scatter_add(1, positions, flag.long()) > 0  # (B, N)
    values = torch.zeros_like(mb.tensor).scatter_add(1, positions, torch.where(flag, tokens, 0).to(mb.tensor.dtype))
    return ModalityBatch(torch.where(hit, values, mb.tensor), mb.input_keep | hit, mb.target_keep & ~hit)


def emptied(mb: ModalityBatch, spec: ModalitySpec) -> ModalityBatch:
    """The modality as the unconditional pass of classifier-free guidance sees it.

    Image-like: no inputs (values kept). Sequence: ``[S_1] [S_1] 0 … 0 [S_2]`` with only position 0
    an input, as the release empties it (so its ``[S_1]`` remains an encoder token).
    """
    if spec.is_sequence:
        return _empty_sequence(mb.batch_size, mb.num_positions, mb.tensor.device)
    none = torch.zeros_like(mb.input_keep)
    return ModalityBatch(mb.tensor, none, none)


def without_inputs(mb: ModalityBatch) -> ModalityBatch:
    """The modality with no encoder input and no target (as if absent from the batch)."""
    none = torch.zeros_like(mb.input_keep)
    return ModalityBatch(mb.tensor, none, none)


def pending(mb: ModalityBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """Still-undecoded positions of a target, ascending per row.

    Returns:
        positions (B, M) long and keep (B, M) bool, M = the largest count over rows (rows with
        fewer are padded with position 0 and keep False).
    """
    counts = mb.target_keep.sum(1)
    width = int(counts.max()) if counts.numel() else 0
    order = torch.argsort((~mb.target_keep).to(torch.int8), dim=1, stable=True)[:, :width]  # targets first
    keep = torch.arange(width, device=counts.device)[None] < counts[:, None]
    return torch.where(keep, order, torch.zeros_like(order)), keep


def stack_views(views: Sequence[Batch]) -> Batch:
    """Views of one state (same modalities, same shapes) concatenated along the batch axis."""
    first = views[0]
    for v in views[1:]:
        if list(v) != list(first):
            raise ValueError(f"views hold different modalities: {list(first)} vs {list(v)}")
    return {
        m: ModalityBatch(
            torch.cat([v[m].tensor for v in views]),
            torch.cat([v[m].input_keep for v in views]),
            torch.cat([v[m].target_keep for v in views]),
        )
        for m in first
    }


def split_rows(x: torch.Tensor, parts: int) -> list[torch.Tensor]:
    """(parts·B, ...) -> ``parts`` tensors of (B, ...) (the inverse of stacking views)."""
    return list(x.chunk(parts, dim=0))


def merge_span_ids(input_ids: Sequence[int], generated: Sequence[int]) -> list[int]:
    """Replace each sentinel of ``input_ids`` by what followed the same sentinel in ``generated``.

    The released merge, exactly: ``generated`` is split at sentinels, tokens are collected per
    sentinel (a sentinel met twice gathers both spans, in order), tokens before the first sentinel
    and spans of sentinels absent from the input are dropped, and an input sentinel with no span
    disappears. (:func:`omnimask.masking.merge_spans` keeps only the last span of a repeated
    sentinel, which would change generated captions; hence this variant.)
    """
    spans: dict[int | None, list[int]] = defaultdict(list)
    current: int | None = None
    for t in generated:
        if is_sentinel(int(t)):
            current = int(t)
        else:
            spans[current].append(int(t))
    out: list[int] = []
    for t in input_ids:
        out.extend(spans[int(t)] if is_sentinel(int(t)) else [int(t)])
    return out


def merge_generated(mb: ModalityBatch, generated: torch.Tensor, stop: torch.Tensor, *,
                    truncate_at_stop: bool = True, target_keep_is_input_keep: bool = False) -> ModalityBatch:
    """The sequence after autoregressive generation: a full input, right-padded with ``[PAD]``.

    Args:
        mb: the sequence before generation (its inputs hold the sentinel(s) to fill; none: ``[S_1]``).
        generated: (B, T) the start token followed by the generated tokens.
        stop: (B,) each row's stop token.
        truncate_at_stop: cut each row after its first stop token (rows of a batch stop at different
            iterations; the release merges whatever followed as well, which only differs for B > 1).
        target_keep_is_input_keep: reproduce the release's merged masks (README §12: its
            ``target_mask`` equals ``input_mask``, i.e. every real token is also marked a target).
            Default: the merged sequence has no targets.
    """
    rows: list[list[int]] = []
    for b in range(mb.batch_size):
        inputs = mb.tensor[b][mb.input_keep[b]].tolist() or [S1]
        gen = generated[b].tolist()
        if truncate_at_stop and int(stop[b]) in gen[1:]:
            gen = gen[: gen.index(int(stop[b]), 1) + 1]
        rows.append(merge_span_ids(inputs, gen))
    width = max(len(r) for r in rows)
    tensor = torch.full((len(rows), width), PAD_ID, dtype=torch.long, device=mb.tensor.device)
    for b, r in enumerate(rows):
        tensor[b, : len(r)] = torch.tensor(r, dtype=torch.long)
    keep = torch.arange(width, device=tensor.device)[None] < torch.tensor([len(r) for r in rows],
                                                                           device=tensor.device)[:, None]
    return ModalityBatch(tensor, keep, keep.clone() if target_keep_is_input_keep else torch.zeros_like(keep))


def with_modality(state: Batch, name: str, mb: ModalityBatch) -> Batch:
    """A new state with ``name`` replaced (order of modalities kept; a new name goes last)."""
    out = dict(state)
    out[name] = mb
    return out
