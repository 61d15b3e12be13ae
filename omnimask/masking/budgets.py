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

import dataclasses

import numpy as np


def dirichlet_split(alphas: np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
    """Split ``total`` tokens over modalities with Dirichlet proportions.

    Args:
        alphas: (M,) non-negative concentrations; entries equal to 0 receive exactly 0.
        total: tokens to distribute (≥ 0).
        rng: source of randomness.

    Returns:
        (M,) int64 budgets summing to ``total`` (or all zeros when every alpha is 0).
    """
    alphas = np.asarray(alphas, dtype=np.float64)
    out = np.zeros(alphas.shape[0], dtype=np.int64)
    active = np.flatnonzero(alphas > 0)
    if active.size == 0 or total <= 0:
        return out
    if active.size == 1:
        out[active[0]] = total
        return out
    sub = alphas[active]
    # Flooring loses fewer than one token per modality, so one call gives the proportions (row 0) and
    # enough further draws for the remainder; one call is half the cost of two.
    draws = rng.dirichlet(sub, size=active.size)
    share = np.floor(draws[0] * total).astype(np.int64)
    missing = int(total - share.sum())
    if missing > active.size - 1:  # only through floating-point round-off
        draws = np.concatenate([draws, rng.dirichlet(sub, size=missing)])
    if missing > 0:
        share += np.bincount(draws[1 : 1 + missing].argmax(axis=1), minlength=active.size)
    out[active] = share
    return out


@dataclasses.dataclass(frozen=True)
class Budgets:
    """The budgets drawn for one sample (arrays in the masker's modality order)."""

    component: int
    num_input_tokens: int
    num_target_tokens: int
    input: np.ndarray
    target: np.ndarray


def draw_budgets(
    *,
    input_alphas: np.ndarray,
    target_alphas: np.ndarray,
    weights: np.ndarray,
    num_input_tokens: int,
    num_target_tokens: int,
    input_capacity: np.ndarray,
    target_capacity: np.ndarray,
    positional: np.ndarray,
    rng: np.random.Generator,
) -> Budgets:
    """Pick a mixture component and draw input and target budgets for one sample.

    Args:
        input_alphas / target_alphas: (K, M) alphas of the K components over M modalities.
        weights: (K,) component probabilities (summing to 1).
        num_input_tokens / num_target_tokens: total budgets of this sample.
        input_capacity: (M,) most input tokens each modality can take (0 = absent: left out).
        target_capacity: (M,) most target tokens each modality can take before subtracting inputs
            (0 = cannot be a target in this sample: left out).
        positional: (M,) True where inputs and targets share positions (image-like modalities), whose
            target capacity shrinks by the input budget.
        rng: source of randomness.

    Returns:
        :class:`Budgets` with the component index and (M,) int64 input / target budgets.
    """
    k = 0
    if weights.shape[0] > 1:  # inverse-CDF draw (rng.choice is ~10x slower for a handful of components)
        cdf = np.cumsum(weights)
        k = min(int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right")), weights.shape[0] - 1)
    in_alpha = np.where(input_capacity > 0, input_alphas[k], 0.0)
    inputs = np.minimum(dirichlet_split(in_alpha, num_input_tokens, rng), input_capacity)
    room = np.where(positional, target_capacity - inputs, target_capacity)
    tgt_alpha = np.where(target_capacity > 0, target_alphas[k], 0.0)
    targets = np.minimum(dirichlet_split(tgt_alpha, num_target_tokens, rng), np.maximum(room, 0))
    return Budgets(k, num_input_tokens, num_target_tokens, inputs, targets)
