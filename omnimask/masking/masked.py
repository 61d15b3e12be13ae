"""The numpy-level result of masking one modality of one sample (before collation into a Batch).

Masks mean **True = keep**: ``input_keep`` marks what the encoder sees, ``target_keep`` what the decoder
predicts. Layouts follow :mod:`omnimask.batch` without the batch axis: (N,) ids for image / global
tokens, (C, H, W) pixels with (N,) patch masks, (N, C) embeddings, and for sequences an (L,) tensor
with L = 2·(max_tokens + 1) holding the input span at ``[0, len_in)`` and the target span at
``[input_budget, input_budget + len_target)``.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class MaskedModality:
    """One modality of one masked sample.

    Attributes:
        tensor: ids (int64) or values (float32); see the module docstring for shapes.
        input_keep: (N,) or (L,) bool, True where the encoder reads.
        target_keep: same shape, True where the decoder predicts.
        input_budget: input tokens granted by the budget draw (for sequences, where the target starts).
        target_budget: target tokens granted by the budget draw.
    """

    tensor: np.ndarray
    input_keep: np.ndarray
    target_keep: np.ndarray
    input_budget: int
    target_budget: int

    @property
    def num_inputs(self) -> int:
        return int(self.input_keep.sum())

    @property
    def num_targets(self) -> int:
        return int(self.target_keep.sum())
