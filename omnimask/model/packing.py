"""Packing variable numbers of tokens per sample into a dense (B, Nmax) layout with a keep-mask.

4M draws a token budget per sample and modality, so the encoder (and decoder) sees a different
number of tokens in every row. Rather than padding to the static budget or to all positions, the
model lists the kept tokens of the whole batch as one flat sequence (T tokens, each knowing its
batch row) and packs them left-aligned into rows of width Nmax = the largest row count *in this
batch*; attention then masks the padding keys. Order within a row is the order of the flat list,
so concatenating modalities and positions in order reproduces the reference's token order.
"""

from __future__ import annotations

import dataclasses

import torch


@dataclasses.dataclass(frozen=True)
class Packing:
    """Where each of T flat tokens lives in a packed (B, Nmax) layout.

    Attributes:
        row: (T,) batch row of each token.
        col: (T,) column of each token in its packed row.
        keep: (B, Nmax) bool, True where a real token sits.
    """

    row: torch.Tensor
    col: torch.Tensor
    keep: torch.Tensor

    @property
    def width(self) -> int:
        return self.keep.shape[1]

    def scatter(self, values: torch.Tensor) -> torch.Tensor:
        """(T, ...) -> (B, Nmax, ...), zero at padding (differentiable in ``values``)."""
        out = values.new_zeros((self.keep.shape[0], self.width, *values.shape[1:]))
        return out.index_put((self.row, self.col), values)

    def gather(self, packed: torch.Tensor) -> torch.Tensor:
        """(B, Nmax, ...) -> (T, ...) in flat-list order."""
        return packed[self.row, self.col]


def pack(rows: torch.Tensor, batch_size: int) -> Packing:
    """Pack T tokens with batch rows ``rows`` (T,) into (batch_size, Nmax), keeping list order per row."""
    counts = torch.bincount(rows, minlength=batch_size)  # (B,)
    width = int(counts.max()) if rows.numel() else 0
    order = torch.argsort(rows, stable=True)  # tokens grouped by row, list order inside a row
    starts = counts.cumsum(0) - counts
    col = torch.empty_like(rows)
    col[order] = torch.arange(rows.numel(), device=rows.device) - starts[rows[order]]
    keep = torch.arange(width, device=rows.device)[None, :] < counts[:, None]
    return Packing(rows, col, keep)
