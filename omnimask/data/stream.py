"""The training sample stream: a pure function of (seed, global sample index).

Sample ``i`` of a run is source row ``perm_e[i mod n]`` of epoch ``e = i div n`` (a fresh permutation
per epoch, drawn from ``(seed, e)``), masked with a generator seeded by ``(seed, i)``. Nothing depends
on worker ids, process counts or how far an iterator has run, so:

* resuming at sample ``i`` reproduces the uninterrupted stream exactly;
* DataLoader workers need no extra seeding (each index carries its own seed);
* a distributed run gives rank ``r`` of ``R`` the indices ``i ≡ r (mod R)`` of each global batch.
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
        return int(self._perm[offset])

    def __len__(self) -> int:  # indices are unbounded; DataLoader only needs this for len(loader)
        return np.iinfo(np.int64).max

    def __getitem__(self, index: int) -> Any:
        raw = self.source[self.source_row(index)]
        return self.mask(raw, np.random.default_rng([self.seed, index]))


class GlobalBatchSampler(Sampler[list[int]]):
    """Yields this rank's indices of global batches ``start, start + 1, ...``.

    Global batch ``s`` covers sample indices ``[s·G, (s+1)·G)`` with ``G = batch_size · world_size``;
    rank ``r`` takes every ``world_size``-th of them starting at ``r``.
    """

    def __init__(self, batch_size: int, start_sample: int = 0, rank: int = 0, world_size: int = 1,
                 num_batches: int | None = None) -> None:
        self.batch_size = batch_size
        self.start = start_sample
        self.rank = rank
        self.world = world_size
        self.num_batches = num_batches

    def __iter__(self) -> Iterator[list[int]]:
        global_size = self.batch_size * self.world
        b = 0
        while self.num_batches is None or b < self.num_batches:
            first = self.start + b * global_size
            yield list(range(first + self.rank, first + global_size, self.world))
            b += 1

    def __len__(self) -> int:
        if self.num_batches is None:
            raise TypeError("an endless sampler has no length")
        return self.num_batches


def batches(dataset: IndexedSamples, collate: CollateFn, batch_size: int, start_sample: int = 0,
            num_batches: int | None = None, num_workers: int = 0, rank: int = 0,
            world_size: int = 1) -> Iterator[Batch]:
    """Iterate collated batches of ``dataset`` from ``start_sample`` on (endless if ``num_batches`` is None)."""
    sampler = GlobalBatchSampler(batch_size, start_sample, rank, world_size, num_batches)
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=num_workers,
                        persistent_workers=False, prefetch_factor=4 if num_workers else None)
    yield from loader

