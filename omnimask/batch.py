"""The typed batch that flows from masking into the model and through generation.

A :data:`Batch` maps modality names to :class:`ModalityBatch` objects. Masks mean **True = keep**:
``input_keep`` marks what the encoder sees, ``target_keep`` what the decoder predicts (the released
4M uses the opposite polarity; :mod:`omnimask.compat` converts at the boundary).

Layouts (B batch, N positions of the modality):

* ``image_tokens`` / ``global_tokens``: ``tensor`` (B, N) int64 ids; masks (B, N).
* ``pixels``: ``tensor`` (B, C, H, W) float (normalised); masks (B, N) over patches, row-major.
* ``sequence``: ``tensor`` (B, L) int64 with the input span at ``[0, len_in)`` and the target span
  starting later (4M's layout: at the drawn input budget); masks (B, L). A decoder position ``t``
  predicts ``tensor[t + 1]`` and takes part iff ``t`` and ``t + 1`` are both target slots.
* ``embedding_sequence``: ``tensor`` (B, N, C) float; masks (B, N).

Fine-tuning batches of a task head also carry the task's labels under :data:`LABEL_KEY` (no modality
name starts with ``@``): ``tensor`` (B, ...) labels, masks (B, 1) all False (:func:`label_batch`).
"""

from __future__ import annotations

import dataclasses

import torch


@dataclasses.dataclass(frozen=True)
class ModalityBatch:
    """Values and keep-masks of one modality for a batch (see the module docstring for layouts)."""

    tensor: torch.Tensor
    input_keep: torch.Tensor
    target_keep: torch.Tensor

    def __post_init__(self) -> None:
        if self.input_keep.shape != self.target_keep.shape:
            raise ValueError(
                f"input_keep {tuple(self.input_keep.shape)} and target_keep "
                f"{tuple(self.target_keep.shape)} must have the same shape"
            )
        if self.input_keep.dtype != torch.bool or self.target_keep.dtype != torch.bool:
            raise TypeError("input_keep and target_keep must be bool tensors (True = keep)")
        if self.tensor.shape[0] != self.input_keep.shape[0]:
            raise ValueError(
                f"batch sizes differ: tensor {tuple(self.tensor.shape)} vs masks {tuple(self.input_keep.shape)}"
            )

    @property
    def batch_size(self) -> int:
        return self.input_keep.shape[0]

    @property
    def num_positions(self) -> int:
        return self.input_keep.shape[1]

    def to(self, device: torch.device | str) -> ModalityBatch:
        return ModalityBatch(self.tensor.to(device), self.input_keep.to(device), self.target_keep.to(device))

    def replace(self, **changes: torch.Tensor) -> ModalityBatch:
        """A new ModalityBatch with some fields replaced (inputs are never modified in place)."""
        return dataclasses.replace(self, **changes)


Batch = dict[str, ModalityBatch]

#: Key of the labels of a task-head batch (see the module docstring).
LABEL_KEY = "@label"


def label_batch(labels: torch.Tensor) -> ModalityBatch:
    """Labels (B, ...) as the :data:`LABEL_KEY` entry of a batch (never an input nor a 4M target)."""
    off = torch.zeros(labels.shape[0], 1, dtype=torch.bool, device=labels.device)
    return ModalityBatch(labels, off, off.clone())


def batch_to(batch: Batch, device: torch.device | str) -> Batch:
    """Move every modality of ``batch`` to ``device``."""
    return {name: mb.to(device) for name, mb in batch.items()}


def batch_size(batch: Batch) -> int:
    """The common batch size; an error if modalities disagree or the batch is empty."""
    sizes = {mb.batch_size for mb in batch.values()}
    if len(sizes) != 1:
        raise ValueError(f"a batch needs one batch size across modalities, got {sorted(sizes)}")
    return sizes.pop()
