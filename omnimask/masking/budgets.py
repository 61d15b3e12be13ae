"""Token budgets: how many input and target tokens each modality of a sample gets (4M's Dirichlet step).

For one sample 4M picks a mixture component, then splits ``num_input_tokens`` over the modalities with
proportions p ~ Dir(α_in): each modality gets ``floor(p · total)`` and the few tokens lost to flooring go,
one by one, to the argmax of further Dirichlet draws (so a modality with α ≈ 0 never receives them).
Budgets are clamped to what each modality can hold. Targets are split the same way with α_tgt and
clamped to ``max_tokens − input_budget`` for position-based (image-like) modalities, so inputs and
targets of an image can be disjoint.

α = 0 means *exactly nothing*: the Dirichlet is drawn over the modalities with α > 0 only (a Dirichlet
with zero concentrations is undefined; 4M clamps them to 1e-9, which has the same effect up to
floating point). Modalities that cannot take a role in this sample (absent, or a non-discrete
modality as a target) are left out of the draw the same way, i.e. the draw is conditioned on them
receiving nothing instead of wasting the budget on them.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Sequence

import numpy as np


# Arrays here have one entry per modality (a handful): plain Python lists are several times faster than
# chains of small numpy calls, and this runs once per training sample.
def _split(alphas: Sequence[float], total: int, rng: np.random.Generator) -> list[int]:
    out = [0] * len(alphas)
    active = [i for i, a in enumerate(alphas) if a > 0]
    if not active or total <= 0:
        return out
    if len(active) == 1:
        out[active[0]] = total
        return out
    sub = [alphas[i] for i in active]
    # Flooring loses fewer than one token per modality, so one call gives the proportions (row 0) and
    # enough further draws for the remainder; one call is half the cost of two.
    draws = rng.dirichlet(sub, size=len(active))
    share = [int(p * total) for p in draws[0].tolist()]  # floor (p ≥ 0)
    missing = total - sum(share)
    if missing > len(active) - 1:  # only through floating-point round-off
        draws = np.concatenate([draws, rng.dirichlet(sub, size=missing)])
    if missing > 0:  # the remainder goes to argmaxes (first on ties) of further draws
        for i in draws[1 : 1 + missing].argmax(axis=1).tolist():
            share[i] += 1
    for i, n in zip(active, share):
        out[i] = n
    return out


def dirichlet_split(alphas: Sequence[float] | np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
    """Split ``total`` tokens over modalities with Dirichlet proportions.

    Args:
        alphas: (M,) non-negative concentrations; entries equal to 0 receive exactly 0.
        total: tokens to distribute (≥ 0).
        rng: source of randomness.

    Returns:
        (M,) int64 budgets summing to ``total`` (or all zeros when every alpha is 0).
    """
    return np.array(_split(np.asarray(alphas, dtype=np.float64).tolist(), total, rng), dtype=np.int64)


@dataclasses.dataclass(frozen=True)
class Budgets:
    """The budgets drawn for one sample (lists in the masker's modality order)."""

    component: int
    num_input_tokens: int
    num_target_tokens: int
    input: list[int]
    target: list[int]


def draw_budgets(
    *,
    input_alphas: Sequence[Sequence[float]],
    target_alphas: Sequence[Sequence[float]],
    cum_weights: Sequence[float],
    num_input_tokens: int,
    num_target_tokens: int,
    input_capacity: Sequence[int],
    target_capacity: Sequence[int],
    positional: Sequence[bool],
    rng: np.random.Generator,
) -> Budgets:
    """Pick a mixture component and draw input and target budgets for one sample.

    Args:
        input_alphas / target_alphas: (K, M) alphas of the K components over M modalities.
        cum_weights: (K,) cumulative component probabilities (the last entry is the total).
        num_input_tokens / num_target_tokens: total budgets of this sample.
        input_capacity: (M,) most input tokens each modality can take (0 = absent: left out).
        target_capacity: (M,) most target tokens each modality can take before subtracting inputs
            (0 = cannot be a target in this sample: left out).
        positional: (M,) True where inputs and targets share positions (image-like modalities), whose
            target capacity shrinks by the input budget.
        rng: source of randomness.

    Returns:
        :class:`Budgets` with the component index and (M,) input / target budgets.
    """
    k = 0
    if len(cum_weights) > 1:  # inverse-CDF draw (rng.choice is ~10x slower for a handful of components)
        k = min(bisect.bisect_right(cum_weights, rng.random() * cum_weights[-1]), len(cum_weights) - 1)
    in_alpha = [a if c > 0 else 0.0 for a, c in zip(input_alphas[k], input_capacity)]
    inputs = [min(n, c) for n, c in zip(_split(in_alpha, num_input_tokens, rng), input_capacity)]
    room = [c - i if pos else c for c, i, pos in zip(target_capacity, inputs, positional)]
    tgt_alpha = [a if c > 0 else 0.0 for a, c in zip(target_alphas[k], target_capacity)]
    targets = [max(0, min(n, r)) for n, r in zip(_split(tgt_alpha, num_target_tokens, rng), room)]
    return Budgets(k, num_input_tokens, num_target_tokens, inputs, targets)
