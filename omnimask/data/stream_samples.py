"""Masked samples from an endless stream (shard sets, mixtures of them) for the training loop.

An indexable source (:mod:`omnimask.data.stream`) is a pure function of the global sample index; a
streaming source cannot be, so each rank and each DataLoader worker reads its own stream, seeded by
``(seed, start_sample, rank, worker)``: runs are reproducible, ranks and workers never repeat each
other, and a run resumed at sample ``s`` continues with a fresh, deterministic stream instead of
replaying the samples it already saw: the same continuation every time it resumes from one checkpoint,
but not the samples an uninterrupted run reads next (that would take the readers' shard positions and
shuffle buffers, or re-reading everything seen so far).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol, runtime_checkable

import numpy as np
from torch.utils.data import IterableDataset, get_worker_info

RawSample = dict[str, Any]
MaskFn = Callable[[RawSample, np.random.Generator], Any]


@runtime_checkable
class StreamSource(Protocol):
    """A source read as a stream: each (rank, worker) gets its own reproducible sequence of raw samples."""

    def iterate(
        self, seed: int, rank: int = 0, world_size: int = 1, worker: int = 0, num_workers: int = 1
    ) -> Iterator[RawSample]: ...


def stream_seed(*parts: int) -> int:
    """One 63-bit seed from several integers (independent streams for different parts)."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1, np.uint64)[0] >> 1)


class StreamSamples(IterableDataset):
    """Masked samples of ``source`` for one rank, split over the DataLoader workers that read it."""

    def __init__(
        self, source: StreamSource, mask: MaskFn, seed: int, start_sample: int = 0, rank: int = 0, world_size: int = 1
    ) -> None:
        self.source, self.mask = source, mask
        self.seed = stream_seed(seed, start_sample)
        self.rank, self.world_size = rank, world_size

    def __iter__(self) -> Iterator[Any]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        rng = np.random.default_rng([self.seed, self.rank, worker, 0x4D41534B])
        for raw in self.source.iterate(self.seed, self.rank, self.world_size, worker, workers):
            yield self.mask(raw, rng)
