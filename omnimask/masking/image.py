"""Random position masking for image-like modalities (4M's image masking).

Used for every modality whose tokens sit at fixed positions: token grids (``image_tokens``), pixel
patches (``pixels``), ``global_tokens`` and ``embedding_sequence``. One random permutation of the
positions is drawn; its first ``input_budget`` entries become inputs and the next ``target_budget``
entries targets, so inputs and targets never overlap.
"""

from __future__ import annotations

import numpy as np


def position_masks(
    num_positions: int, input_budget: int, target_budget: int, rng: np.random.Generator, *, available: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint random input / target keep-masks over ``num_positions`` positions.

    Args:
        num_positions: N, the length of the masks.
        input_budget: positions to mark as inputs (clamped to what is available).
        target_budget: positions to mark as targets among the rest (clamped likewise).
        rng: source of randomness.
        available: only the first ``available`` positions hold real values (variable-length
            embedding sequences); the others are never kept. Default: all N.

    Returns:
        ``(input_keep, target_keep)``, two (N,) bool arrays with ``input_keep & target_keep`` all False,
        ``input_keep.sum() == min(input_budget, available)`` and
        ``target_keep.sum() == min(target_budget, available - input_keep.sum())``.
    """
    n = num_positions if available is None else min(available, num_positions)
    n_in = min(max(input_budget, 0), n)
    n_tgt = min(max(target_budget, 0), n - n_in)
    input_keep = np.zeros(num_positions, dtype=bool)
    target_keep = np.zeros(num_positions, dtype=bool)
    if n_in + n_tgt == 0:  # common with small alphas; skip the permutation
        return input_keep, target_keep
    order = rng.permutation(n)
    if n_in:
        input_keep[order[:n_in]] = True
    if n_tgt:
        target_keep[order[n_in : n_in + n_tgt]] = True
    return input_keep, target_keep
