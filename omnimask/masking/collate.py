"""Collation: per-sample masking results → a typed :data:`omnimask.batch.Batch` of torch tensors.

Each modality present in at least one sample becomes a :class:`~omnimask.batch.ModalityBatch` with
its tensors stacked along a new batch axis: (B, N) ids, (B, C, H, W) pixels, (B, N, C) embeddings,
(B, L) sequences, and (B, N) / (B, L) bool keep-masks. A sample without the modality contributes a
``[PAD]`` / zero row with nothing kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from omnimask.batch import Batch, ModalityBatch
from omnimask.masking.masked import MaskedModality
from omnimask.modalities import ModalitySpec


def _filler(like: MaskedModality, spec: ModalitySpec) -> MaskedModality:
    fill = spec.pad_id if spec.is_discrete else 0
    empty = np.zeros_like(like.input_keep)
    return MaskedModality(np.full_like(like.tensor, fill), empty, empty, 0, 0)


def collate(samples: Sequence[Mapping[str, MaskedModality]], specs: Mapping[str, ModalitySpec]) -> Batch:
    """Stack masked samples into a Batch (modalities in ``specs`` order; absent everywhere → omitted).

    Args:
        samples: B results of :func:`omnimask.masking.mask_sample` / :class:`~omnimask.masking.Masker`.
        specs: the modality specs the samples were masked with.

    Returns:
        ``{name: ModalityBatch}``; ids are int64, values float32, masks bool (True = keep).
    """
    if not samples:
        raise ValueError("collate needs at least one sample")
    batch: Batch = {}
    for name, spec in specs.items():
        present = [s[name] for s in samples if name in s]
        if not present:
            continue
        shapes = {m.tensor.shape for m in present}
        if len(shapes) != 1:
            raise ValueError(
                f"{name}: samples disagree on the tensor shape {sorted(shapes)}; mask them with one config"
            )
        rows = [s[name] if name in s else _filler(present[0], spec) for s in samples]
        tensor = torch.from_numpy(_stack([r.tensor for r in rows]))
        batch[name] = ModalityBatch(
            tensor.long() if spec.is_discrete else tensor.float(),
            torch.from_numpy(_stack([r.input_keep for r in rows])),
            torch.from_numpy(_stack([r.target_keep for r in rows])),
        )
    return batch


def _stack(arrays: list[np.ndarray]) -> np.ndarray:
    """``np.stack`` of equally shaped arrays: (B, *shape), at a third of its cost for small rows."""
    shape = arrays[0].shape
    if not shape or len({a.shape for a in arrays}) != 1:
        return np.stack(arrays)  # 0-d rows, or shapes that differ (np.stack reports them)
    return np.concatenate(arrays).reshape(len(arrays), *shape)  # rows follow each other along axis 0
