"""The training sample stream: a pure function of (seed, global sample index).

Sample ``i`` of a run is source row ``perm_e[i mod n]`` of epoch ``e = i div n`` (a fresh permutation
per epoch, drawn from ``(seed, e)``), masked with a generator seeded by ``(seed, i)``. Nothing depends
on worker ids, process counts or how far an iterator has run, so:

* resuming at sample ``i`` reproduces the uninterrupted stream exactly;
* DataLoader workers need no extra seeding (each index carries its own seed);
* a distributed run gives each rank contiguous blocks of the stream (:class:`RankBlockSampler`), so
  R ranks with gradient accumulation A see exactly the samples of one process with accumulation R·A.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

import numpy as np
from torch.utils.data import DataLoader, Dataset, Sampler

from omnimask.batch import Batch


class SampleSource(Protocol):
    """Anything indexable that returns one raw sample (a dict of per-modality arrays / chunk lists)."""

    def __len__(self) -> int: ...

    def __getitem__(self, row: int) -> dict[str, Any]: ...


MaskFn = Callable[[dict[str, Any], np.random.Generator], Any]
CollateFn = Callable[[list[Any]], Batch]


class IndexedSamples(Dataset):
    """Global sample index → masked sample, deterministic in (seed, index)."""

    def __init__(self, source: SampleSource, mask: MaskFn, seed: int, shuffle: bool = True) -> None:
        if len(source) == 0:
            raise ValueError("the data source is empty")
        self.source = source
        self.mask = mask
        self.seed = seed
        self.shuffle = shuffle
        self._epoch = -1
        self._perm: np.ndarray | None = None

    def source_row(self, index: int) -> int:
        n = len(self.source)
        epoch, offset = divmod(index, n)
        if not self.shuffle:
            return offset
        if epoch != self._epoch:
            self._perm = np.random.default_rng([self.seed, epoch, 0x5EED]).permutation(n)
            self._epoch = epoch
        assert self._perm is not None  # drawn above for every epoch >= 0
        return int(self._perm[offset])

    def __len__(self) -> int:  # indices are unbounded; DataLoader only needs this for len(loader)
        return np.iinfo(np.int64).max

    def __getitem__(self, index: int) -> Any:
        raw = self.source[self.source_row(index)]
        return self.mask(raw, np.random.default_rng([self.seed, index]))


class RankBlockSampler(Sampler[list[int]]):
    """This rank's micro-batches of the global sample stream, the same blocks for any world size.

    Micro-batch ``k`` of the run covers samples ``[start + k·b, start + (k+1)·b)``. An optimizer step
    consumes ``world_size · grad_accum`` consecutive micro-batches and rank ``r`` takes the
    ``grad_accum`` of them starting at ``r · grad_accum``. With one rank this is the plain consecutive
    stream; and W ranks with accumulation A train on exactly the blocks (and, as every rank averages
    its micro-batch losses, the gradient) of one process with accumulation W·A.
    """

    def __init__(self, batch_size: int, start_sample: int = 0, rank: int = 0, world_size: int = 1,
                 grad_accum: int = 1, num_batches: int | None = None) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside a world of {world_size}")
        self.batch_size, self.start, self.rank = batch_size, start_sample, rank
        self.world, self.accum, self.num_batches = world_size, grad_accum, num_batches

    def block(self, k: int) -> int:
        """Global micro-batch index of this rank's ``k``-th micro-batch."""
        step, micro = divmod(k, self.accum)
        return step * self.world * self.accum + self.rank * self.accum + micro

    def __iter__(self) -> Iterator[list[int]]:
        k = 0
        while self.num_batches is None or k < self.num_batches:
            first = self.start + self.block(k) * self.batch_size
            yield list(range(first, first + self.batch_size))
            k += 1

    def __len__(self) -> int:
        if self.num_batches is None:
            raise TypeError("an endless sampler has no length")
        return self.num_batches


def batches(dataset: IndexedSamples, collate: CollateFn, batch_size: int, start_sample: int = 0,
            num_batches: int | None = None, num_workers: int = 0, rank: int = 0,
            world_size: int = 1) -> Iterator[Batch]:
    """Iterate collated batches of ``dataset`` from ``start_sample`` on (endless if ``num_batches`` is None)."""
    sampler = RankBlockSampler(batch_size, start_sample, rank, world_size, num_batches=num_batches)
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=num_workers,
                        persistent_workers=False, prefetch_factor=4 if num_workers else None)
    yield from loader

