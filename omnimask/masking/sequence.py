"""T5-style span masking of text-serialised sequences (captions, boxes, poses, palettes, metadata).

A sequence (raw ids + ``[EOS]``, truncated to ``max_tokens``) is cut into *units* — single tokens, or
whole chunks for chunked modalities such as metadata (:mod:`omnimask.masking.metadata`). Every unit
is kept with probability ``keep_prob``; each maximal run of dropped units becomes one sentinel in the
input, and the target lists, for each run in order, its sentinel followed by the dropped tokens, then
one closing sentinel::

    a b c d [EOS], drop {b, c, [EOS]}  ->  input  a [S_1] d [S_2]
                                            target [S_1] b c [S_2] [EOS] [S_3]

4M's rules for budgets: the keep probability comes from the keep scheme (``random``: U(0, 1),
``all``: 1, ``binary``: 0 or 1); while the input exceeds its budget the probability is multiplied by
``decay`` (0.9) and the masking redrawn; an input budget of 0 drops everything; a target longer than
its budget is cut to start at a sentinel (see :func:`cut_target`). :func:`merge_spans` is the inverse.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from omnimask.masking.masked import MaskedModality
from omnimask.masking.special_tokens import EOS_ID, MAX_SENTINEL, PAD_ID, SENTINEL_BASE, is_sentinel

#: Redraws before the decay loop gives up and drops everything (0.9**1000 ≈ 1e-46: never reached in practice).
_MAX_REDRAWS = 1000


def prepare_sequence(ids: Sequence[int] | np.ndarray, max_tokens: int) -> np.ndarray:
    """Raw ids (no special tokens) → int64 ids with ``[EOS]`` appended, truncated to ``max_tokens``."""
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    return np.append(ids, EOS_ID)[:max_tokens]


def sequence_length(max_tokens: int) -> int:
    """L, the stored length of a masked sequence: room for input and target spans, 2·(max_tokens + 1)."""
    return 2 * (max_tokens + 1)


def _expand(unit_flags: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
    return unit_flags if lengths is None else np.repeat(unit_flags, lengths)


def input_length(keep_units: np.ndarray, lengths: np.ndarray | None = None) -> int:
    """Length of the corrupted input for a unit keep-pattern: kept tokens + one sentinel per dropped run."""
    drop = ~keep_units
    runs = int(np.count_nonzero(drop[1:] & keep_units[:-1])) + int(drop[:1].sum())
    kept = int(np.count_nonzero(keep_units)) if lengths is None else int(lengths[keep_units].sum())
    return kept + runs


def span_corrupt(
    ids: np.ndarray, keep_units: np.ndarray, lengths: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic span corruption for a given keep-pattern.

    Args:
        ids: (n,) int64 token ids.
        keep_units: (u,) bool, True = the unit stays in the input.
        lengths: (u,) positive token counts of the units (summing to n); ``None`` = one token per unit.

    Returns:
        ``(input_ids, target_ids)`` int64 arrays; the target always ends with the closing sentinel.
    """
    ids = np.asarray(ids, dtype=np.int64)
    keep_units = np.asarray(keep_units, dtype=bool)
    drop_u = ~keep_units
    start_u = drop_u.copy()
    start_u[1:] &= keep_units[:-1]  # a run starts at a dropped unit whose predecessor was kept
    n_runs = int(np.count_nonzero(start_u))
    if n_runs + 1 > MAX_SENTINEL:
        raise ValueError(
            f"span masking needs {n_runs + 1} sentinels but the vocabulary has {MAX_SENTINEL} usable ones; "
            "lower max_tokens of this modality"
        )
    drop = _expand(drop_u, lengths)
    if lengths is None:
        start = start_u
    else:
        start = np.zeros(ids.shape[0], dtype=bool)
        start[(np.cumsum(lengths) - lengths)[start_u]] = True  # first token of each run's first unit
    sentinel = SENTINEL_BASE + np.cumsum(start)  # [S_r] for a token of run r
    input_ids = np.where(drop, sentinel, ids)[~drop | start]
    pairs = np.stack([sentinel[drop], ids[drop]], axis=1)  # (dropped, 2): [sentinel, token]
    emit = np.stack([start[drop], np.ones(pairs.shape[0], dtype=bool)], axis=1)
    target_ids = np.append(pairs[emit], SENTINEL_BASE + n_runs + 1)
    return input_ids, target_ids


def draw_keep_prob(scheme: str, rng: np.random.Generator) -> float:
    """Initial keep probability of a keep scheme: ``random`` U(0, 1), ``all`` 1, ``binary`` 0 or 1."""
    if scheme == "random":
        return float(rng.random())
    if scheme == "all":
        return 1.0
    if scheme == "binary":
        return float(rng.integers(2))
    raise ValueError(f"unknown keep scheme {scheme!r}; use 'random', 'all' or 'binary'")


def cut_target(target_ids: np.ndarray, budget: int, rng: np.random.Generator) -> np.ndarray:
    """Shorten a span-masking target to ``budget`` tokens, starting at a sentinel (4M's rule).

    A sentinel other than the closing one is chosen at random; if ``budget`` tokens fit from there, those
    are kept, otherwise the target starts at the earliest sentinel whose whole suffix fits.
    """
    n = target_ids.shape[0]
    if n <= budget:
        return target_ids
    starts = np.flatnonzero(is_sentinel(target_ids))
    chosen = int(starts[int(rng.integers(max(1, starts.shape[0] - 1)))])
    if n - chosen >= budget:
        return target_ids[chosen : chosen + budget]
    fitting = starts[n - starts <= budget]
    return target_ids[int(fitting[0]) :]


def span_mask(
    ids: np.ndarray,
    *,
    input_budget: int,
    target_budget: int,
    keep_scheme: str,
    rng: np.random.Generator,
    lengths: np.ndarray | None = None,
    decay: float = 0.9,
) -> tuple[np.ndarray, np.ndarray]:
    """Random span masking within budgets.

    Args:
        ids: (n,) int64 ids including ``[EOS]`` (see :func:`prepare_sequence`).
        input_budget: most input tokens (sentinels included); 0 drops everything.
        target_budget: most target tokens; longer targets are cut by :func:`cut_target`.
        keep_scheme: ``random`` / ``all`` / ``binary``.
        rng: source of randomness.
        lengths: unit lengths for chunk masking (``None``: every token is a unit).
        decay: factor applied to the keep probability while the input is over budget.

    Returns:
        ``(input_ids, target_ids)`` with ``len(input_ids) <= input_budget`` and
        ``len(target_ids) <= target_budget``.
    """
    num_units = ids.shape[0] if lengths is None else lengths.shape[0]
    keep = np.zeros(num_units, dtype=bool)
    if input_budget > 0:
        keep_prob = draw_keep_prob(keep_scheme, rng)
        for _ in range(_MAX_REDRAWS):
            keep = rng.random(num_units) < keep_prob
            if input_length(keep, lengths) <= input_budget:
                break
            keep_prob *= decay
        else:
            keep = np.zeros(num_units, dtype=bool)
    input_ids, target_ids = span_corrupt(ids, keep, lengths)
    if input_budget <= 0:
        input_ids = input_ids[:0]  # no input at all, not even the lone sentinel
    return input_ids, cut_target(target_ids, target_budget, rng)


def layout_sequence(
    input_ids: np.ndarray, target_ids: np.ndarray, *, input_budget: int, target_budget: int, max_tokens: int
) -> MaskedModality:
    """Place input and target spans in 4M's sequence layout.

    Returns:
        A :class:`MaskedModality` with an (L,) int64 tensor, L = 2·(max_tokens + 1), ``[PAD]`` elsewhere;
        ``input_keep`` True on ``[0, len_in)``, ``target_keep`` True on
        ``[input_budget, input_budget + len_target)`` (the target starts at the *budget*, as in 4M).
    """
    length = sequence_length(max_tokens)
    n_in, n_tgt = input_ids.shape[0], target_ids.shape[0]
    if n_in > input_budget or input_budget + n_tgt > length:
        raise ValueError(
            f"spans do not fit the layout: input {n_in} (budget {input_budget}), target {n_tgt}, length {length}"
        )
    tensor = np.full(length, PAD_ID, dtype=np.int64)
    input_keep = np.zeros(length, dtype=bool)
    target_keep = np.zeros(length, dtype=bool)
    tensor[:n_in] = input_ids
    input_keep[:n_in] = True
    tensor[input_budget : input_budget + n_tgt] = target_ids
    target_keep[input_budget : input_budget + n_tgt] = True
    return MaskedModality(tensor, input_keep, target_keep, input_budget, target_budget)


def unpack_sequence(
    tensor: np.ndarray, input_keep: np.ndarray, target_keep: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Input and target ids of one laid-out sequence ((L,) arrays) — the inverse of :func:`layout_sequence`."""
    tensor = np.asarray(tensor)
    return tensor[np.asarray(input_keep, dtype=bool)], tensor[np.asarray(target_keep, dtype=bool)]


def merge_spans(
    input_ids: Sequence[int] | np.ndarray,
    target_ids: Sequence[int] | np.ndarray,
    *,
    missing: Literal["error", "keep", "drop"] = "error",
) -> np.ndarray:
    """Fill each sentinel of the input with the tokens that follow the same sentinel in the target.

    The inverse of span corruption: ``merge_spans(*span_corrupt(ids, keep)) == ids``. Also merges
    generated targets back into their inputs. Target spans of sentinels absent from the input (the
    closing sentinel, anything generated after it) are ignored.

    Args:
        input_ids: (n_in,) ids with sentinels.
        target_ids: (n_tgt,) sentinel-delimited spans.
        missing: what to do with an input sentinel whose span the target lacks (e.g. a cut target):
            ``error`` (raise), ``keep`` (leave the sentinel), ``drop`` (remove it).

    Returns:
        (n,) int64 merged ids.
    """
    inp = np.asarray(input_ids, dtype=np.int64).reshape(-1)
    tgt = np.asarray(target_ids, dtype=np.int64).reshape(-1)
    marks = np.flatnonzero(is_sentinel(tgt))
    ends = np.append(marks[1:], tgt.shape[0])
    spans = {int(tgt[m]): tgt[m + 1 : e] for m, e in zip(marks, ends)}
    out: list[np.ndarray] = []
    last = 0
    for i in np.flatnonzero(is_sentinel(inp)):
        out.append(inp[last:i])
        token = int(inp[i])
        if token in spans:
            out.append(spans[token])
        elif missing == "keep":
            out.append(inp[i : i + 1])
        elif missing == "error":
            raise ValueError(
                f"sentinel [S_{token - SENTINEL_BASE}] of the input has no span in the target; "
                "pass missing='keep' or missing='drop' to merge partial targets"
            )
        last = int(i) + 1
    out.append(inp[last:])
    return np.concatenate(out).astype(np.int64, copy=False)
