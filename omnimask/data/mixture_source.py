"""Dataset mixtures: each training sample drawn from one of several datasets, by weight.

4M-21 co-trained on CC12M, COYO, C4 and more by sampling every sample's dataset with fixed weights;
datasets that lack a modality simply leave it out of the sample, and masking gives an absent modality
no budget (:class:`~omnimask.masking.Masker`), so the model learns from whatever each dataset has.

* :class:`MixtureSource` mixes indexable sources (pre-tokenized stores): a virtual epoch of
  ``length`` rows in which dataset ``d`` owns ``≈ w_d · length`` rows, served from its own seeded
  permutation (without replacement while it lasts, cycling when a small dataset is up-sampled). Row →
  (dataset, row) is a pure function, so the global-index stream stays exact and resumable.
* :class:`MixtureStream` mixes streaming sources (shard sets): per rank and worker, each next sample
  comes from dataset ``d`` with probability ``w_d``; a finite source that runs dry leaves the mixture.

Samples carry ``"__source__"`` (the dataset index) for bookkeeping; masking ignores it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from omnimask.data.stream import SampleSource
from omnimask.data.stream_samples import RawSample, StreamSource, stream_seed


def normalised_weights(weights: Sequence[float] | None, count: int) -> np.ndarray:
    """Weights as probabilities (None = equal); refuses negative, all-zero or mis-sized lists."""
    if count < 1:
        raise ValueError("a mixture needs at least one dataset")
    w = np.ones(count) if weights is None or len(weights) == 0 else np.asarray(weights, dtype=np.float64)
    if w.shape != (count,):
        raise ValueError(f"{len(w)} weights for {count} datasets; give one weight per dataset")
    if (w < 0).any() or not w.sum() > 0 or not np.isfinite(w).all():
        raise ValueError(f"mixture weights must be finite, >= 0 and not all 0; got {list(w)}")
    return w / w.sum()


def _quotas(probs: np.ndarray, length: int) -> np.ndarray:
    """Integer row counts summing to ``length`` (largest remainder), at least 1 for a positive weight."""
    exact = probs * length
    counts = np.floor(exact).astype(np.int64)
    counts[np.argsort(counts - exact, kind="stable")[: length - counts.sum()]] += 1
    short = (counts == 0) & (probs > 0)
    counts[short] = 1
    while counts.sum() > length:
        counts[np.argmax(counts)] -= 1
    return counts


class MixtureSource:
    """Several indexable sources as one (see the module docstring)."""

    def __init__(
        self,
        sources: Sequence[SampleSource],
        weights: Sequence[float] | None = None,
        seed: int = 0,
        length: int | None = None,
    ) -> None:
        self.sources = list(sources)
        self.probs = normalised_weights(weights, len(self.sources))
        if any(len(s) == 0 for s in self.sources):
            raise ValueError("a dataset of the mixture is empty")
        self.length = length if length is not None else sum(len(s) for s in self.sources)
        if self.length < (self.probs > 0).sum():
            raise ValueError(f"a mixture of length {self.length} cannot hold {len(self.sources)} datasets")
        self.counts = _quotas(self.probs, self.length)
        self.offsets = np.concatenate([[0], np.cumsum(self.counts)])
        self.seed = seed
        self._perms: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return self.length

    def locate(self, row: int) -> tuple[int, int]:
        """(dataset, row in that dataset) of mixture row ``row``."""
        if not 0 <= row < self.length:
            raise IndexError(f"row {row} of a mixture of length {self.length}")
        d = int(np.searchsorted(self.offsets, row, side="right") - 1)
        n = len(self.sources[d])
        if d not in self._perms:
            self._perms[d] = np.random.default_rng([self.seed, d, 0x313]).permutation(n)
        return d, int(self._perms[d][(row - self.offsets[d]) % n])

    def __getitem__(self, row: int) -> dict[str, Any]:
        d, inner = self.locate(row)
        return {**self.sources[d][inner], "__source__": d}


class MixtureStream:
    """Several streaming sources as one: every sample's dataset drawn by weight (see the module docstring)."""

    def __init__(self, sources: Sequence[StreamSource], weights: Sequence[float] | None = None) -> None:
        self.sources = list(sources)
        self.probs = normalised_weights(weights, len(self.sources))

    def iterate(
        self, seed: int, rank: int = 0, world_size: int = 1, worker: int = 0, num_workers: int = 1
    ) -> Iterator[RawSample]:
        streams = {
            d: iter(s.iterate(stream_seed(seed, d), rank, world_size, worker, num_workers))
            for d, s in enumerate(self.sources)
            if self.probs[d] > 0
        }
        probs = self.probs.copy()
        rng = np.random.default_rng([seed, rank, worker, 0x313])
        while streams:
            live = np.array(sorted(streams))
            p = probs[live] / probs[live].sum()
            d = int(live[np.searchsorted(np.cumsum(p), rng.random(), side="right").clip(max=len(live) - 1)])
            sample = next(streams[d], None)
            if sample is None:
                del streams[d]
                continue
            yield {**sample, "__source__": d}
