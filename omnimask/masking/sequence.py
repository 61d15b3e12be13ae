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

import itertools
from collections.abc import Sequence
from typing import Literal

import numpy as np

from omnimask.masking.masked import MaskedModality
from omnimask.tokenizers.text.special import EOS_ID, MAX_SENTINEL, NUM_SENTINELS, PAD_ID, SENTINEL_BASE, is_sentinel

_SENTINEL_END = SENTINEL_BASE + NUM_SENTINELS
_SENTINEL_IDS = frozenset(range(SENTINEL_BASE, _SENTINEL_END))
#: Redraws before the decay loop gives up and drops everything (0.9**1000 ≈ 1e-46: never reached in practice).
_MAX_REDRAWS = 1000


def prepare_sequence(ids: Sequence[int] | np.ndarray, max_tokens: int) -> np.ndarray:
    """Raw ids (no special tokens) → int64 ids with ``[EOS]`` appended, truncated to ``max_tokens``."""
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    return np.append(ids, EOS_ID)[:max_tokens]


def sequence_length(max_tokens: int) -> int:
    """L, the stored length of a masked sequence: room for input and target spans, 2·(max_tokens + 1)."""
    return 2 * (max_tokens + 1)


# The per-token work below runs on Python lists: sequences are short (tens of tokens), where a loop
# beats a chain of small numpy calls by several times (see benchmarks/masking.py).
def _units(ids: np.ndarray, lengths: np.ndarray | None) -> list[list[int]]:
    flat = np.asarray(ids, dtype=np.int64).reshape(-1).tolist()
    if lengths is None:
        return [[t] for t in flat]
    bounds = np.cumsum(lengths).tolist()
    return [flat[end - n : end] for end, n in zip(bounds, np.asarray(lengths).tolist())]


def token_units(ids: Sequence[int] | np.ndarray, max_tokens: int) -> list[list[int]]:
    """:func:`prepare_sequence` as span-masking units: ``[[id], ..., [EOS]]`` (one token each), truncated."""
    flat = np.asarray(ids, dtype=np.int64).reshape(-1)[:max_tokens].tolist()
    if len(flat) < max_tokens:
        flat.append(EOS_ID)
    return [[t] for t in flat]


def _input_length(keep: list[bool], sizes: list[int]) -> int:
    total, prev_dropped = 0, False
    for kept, size in zip(keep, sizes):
        if kept:
            total += size
        elif not prev_dropped:
            total += 1  # one sentinel per run of dropped units
        prev_dropped = not kept
    return total


def _corrupt(units: list[list[int]], keep: list[bool]) -> tuple[list[int], list[int]]:
    inp: list[int] = []
    tgt: list[int] = []
    run, prev_dropped = 0, False
    for unit, kept in zip(units, keep):
        if kept:
            inp += unit
        else:
            if not prev_dropped:
                run += 1
                inp.append(SENTINEL_BASE + run)
                tgt.append(SENTINEL_BASE + run)
            tgt += unit
        prev_dropped = not kept
    if run + 1 > MAX_SENTINEL:
        raise ValueError(
            f"span masking needs {run + 1} sentinels but the vocabulary has {MAX_SENTINEL} usable ones; "
            "lower max_tokens of this modality"
        )
    tgt.append(SENTINEL_BASE + run + 1)  # closing sentinel
    return inp, tgt


def _cut(tgt: list[int], budget: int, rng: np.random.Generator) -> list[int]:
    n = len(tgt)
    if n <= budget:
        return tgt
    if budget == 0:  # whichever sentinel is drawn, nothing of the target stays
        rng.random()
        return []
    starts = [i for i, t in enumerate(tgt) if SENTINEL_BASE <= t < _SENTINEL_END]
    chosen = starts[int(rng.random() * max(1, len(starts) - 1))]  # never the closing sentinel
    if n - chosen >= budget:
        return tgt[chosen : chosen + budget]
    return tgt[next(i for i in starts if n - i <= budget) :]


def input_length(keep_units: np.ndarray, lengths: np.ndarray | None = None) -> int:
    """Length of the corrupted input for a unit keep-pattern: kept tokens + one sentinel per dropped run."""
    keep = np.asarray(keep_units, dtype=bool).tolist()
    sizes = [1] * len(keep) if lengths is None else np.asarray(lengths).tolist()
    return _input_length(keep, sizes)


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
    inp, tgt = _corrupt(_units(ids, lengths), np.asarray(keep_units, dtype=bool).tolist())
    return np.array(inp, dtype=np.int64), np.array(tgt, dtype=np.int64)


def draw_keep_prob(scheme: str, rng: np.random.Generator) -> float:
    """Initial keep probability of a keep scheme: ``random`` U(0, 1), ``all`` 1, ``binary`` 0 or 1."""
    if scheme == "random":
        return float(rng.random())
    if scheme == "all":
        return 1.0
    if scheme == "binary":
        return 1.0 if rng.random() < 0.5 else 0.0
    raise ValueError(f"unknown keep scheme {scheme!r}; use 'random', 'all' or 'binary'")


def cut_target(target_ids: np.ndarray, budget: int, rng: np.random.Generator) -> np.ndarray:
    """Shorten a span-masking target to ``budget`` tokens, starting at a sentinel (4M's rule).

    A sentinel other than the closing one is chosen at random; if ``budget`` tokens fit from there, those
    are kept, otherwise the target starts at the earliest sentinel whose whole suffix fits.
    """
    if target_ids.shape[0] <= budget:
        return target_ids
    return np.array(_cut(np.asarray(target_ids).tolist(), budget, rng), dtype=np.int64)


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
    inp, tgt = mask_units(
        _units(ids, lengths),
        input_budget=input_budget,
        target_budget=target_budget,
        keep_scheme=keep_scheme,
        rng=rng,
        decay=decay,
    )
    return np.array(inp, dtype=np.int64), np.array(tgt, dtype=np.int64)


def mask_units(
    units: list[list[int]],
    *,
    input_budget: int,
    target_budget: int,
    keep_scheme: str,
    rng: np.random.Generator,
    decay: float = 0.9,
) -> tuple[list[int], list[int]]:
    """:func:`span_mask` on units given as id lists (the per-sample path; no arrays in between).

    Returns:
        ``(input_ids, target_ids)`` as lists, the same draws and values as :func:`span_mask`.
    """
    if input_budget <= 0:  # everything dropped as one run; no input at all, not even the lone sentinel
        if not units:
            return [], _cut([SENTINEL_BASE + 1], target_budget, rng)
        ids = list(itertools.chain.from_iterable(units))
        tgt = [SENTINEL_BASE + 1, *ids, SENTINEL_BASE + 2]  # what _corrupt gives for no keeps
        if 0 < target_budget < len(tgt) and _SENTINEL_IDS.isdisjoint(ids):
            rng.random()  # _cut's draw among the two sentinels, which always picks the first
            return [], tgt[:target_budget]
        return [], _cut(tgt, target_budget, rng)
    sizes = [len(u) for u in units]
    keep_prob = draw_keep_prob(keep_scheme, rng)
    few = len(units) <= 16  # few units (chunks): plain lists beat array operations
    for _ in range(_MAX_REDRAWS):
        draw = rng.random(len(units))  # u ∈ [0, 1): p = 0 keeps none, p = 1 all
        keep = [u < keep_prob for u in draw.tolist()] if few else (draw < keep_prob).tolist()
        # Each kept unit adds at least one input token: most redraws fail this cheap count already.
        if keep.count(True) <= input_budget and _input_length(keep, sizes) <= input_budget:
            break
        keep_prob *= decay
    else:
        keep = [False] * len(units)
    inp, tgt = _corrupt(units, keep)
    return inp, _cut(tgt, target_budget, rng)


def layout_sequence(
    input_ids: np.ndarray, target_ids: np.ndarray, *, input_budget: int, target_budget: int, max_tokens: int
) -> MaskedModality:
    """Place input and target spans in 4M's sequence layout.

    Returns:
        A :class:`MaskedModality` with an (L,) int64 tensor, L = 2·(max_tokens + 1), ``[PAD]`` elsewhere;
        ``input_keep`` True on ``[0, len_in)``, ``target_keep`` True on
        ``[input_budget, input_budget + len_target)`` (the target starts at the *budget*, as in 4M).
    """
    return layout_ids(
        np.asarray(input_ids, dtype=np.int64).reshape(-1).tolist(),
        np.asarray(target_ids, dtype=np.int64).reshape(-1).tolist(),
        input_budget=input_budget,
        target_budget=target_budget,
        max_tokens=max_tokens,
    )


def layout_ids(
    input_ids: list[int], target_ids: list[int], *, input_budget: int, target_budget: int, max_tokens: int
) -> MaskedModality:
    """:func:`layout_sequence` of spans given as id lists (one array conversion for the whole row)."""
    length = sequence_length(max_tokens)
    n_in, n_tgt = len(input_ids), len(target_ids)
    if n_in > input_budget or input_budget + n_tgt > length:
        raise ValueError(
            f"spans do not fit the layout: input {n_in} (budget {input_budget}), target {n_tgt}, length {length}"
        )
    tensor = np.zeros(length, dtype=np.int64) if PAD_ID == 0 else np.full(length, PAD_ID, dtype=np.int64)
    input_keep = np.zeros(length, dtype=bool)
    target_keep = np.zeros(length, dtype=bool)
    if n_in:  # spans are short next to L: converting only them is what costs least
        tensor[:n_in] = input_ids
        input_keep[:n_in] = True
    if n_tgt:
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
