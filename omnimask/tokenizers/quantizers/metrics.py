"""Codebook usage and perplexity: the health numbers of a discrete bottleneck.

A VQ tokenizer whose codes collapse onto a few entries reconstructs badly and gives the 4M model a
poor vocabulary. These statistics are computed from the ids of a batch (or a whole evaluation set,
by accumulating :attr:`CodebookStats.counts`) and are logged during tokenizer training.
"""

from __future__ import annotations

import dataclasses

import torch


@dataclasses.dataclass(frozen=True)
class CodebookStats:
    """Usage statistics of one codebook.

    Attributes:
        counts: (K,) int64 number of times each code was chosen.
        usage: fraction of the K codes chosen at least once, in [0, 1].
        perplexity: exp(entropy) of the empirical code distribution, in [1, K]; K means uniform use.
    """

    counts: torch.Tensor
    usage: float
    perplexity: float

    def merge(self, other: CodebookStats) -> CodebookStats:
        """Statistics of the union of the two id sets that produced ``self`` and ``other``."""
        return stats_from_counts(self.counts + other.counts)


def stats_from_counts(counts: torch.Tensor) -> CodebookStats:
    """:class:`CodebookStats` from per-code counts (K,)."""
    counts = counts.to(torch.int64)
    total = int(counts.sum())
    if total == 0:
        return CodebookStats(counts=counts, usage=0.0, perplexity=0.0)
    p = counts.double() / total
    entropy = -(p[p > 0] * p[p > 0].log()).sum()
    return CodebookStats(
        counts=counts,
        usage=float((counts > 0).double().mean()),
        perplexity=float(entropy.exp()),
    )


def codebook_stats(ids: torch.Tensor, codebook_size: int) -> CodebookStats:
    """Usage and perplexity of the ids of any shape (all ids pooled; codes in ``[0, codebook_size)``)."""
    flat = ids.reshape(-1).to(torch.int64).cpu()
    if flat.numel() and (int(flat.min()) < 0 or int(flat.max()) >= codebook_size):
        raise ValueError(f"ids must lie in [0, {codebook_size}), got [{int(flat.min())}, {int(flat.max())}]")
    return stats_from_counts(torch.bincount(flat, minlength=codebook_size))
