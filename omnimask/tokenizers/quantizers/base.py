"""The one interface every quantizer of omnimask implements.

4M's tokenizers put a discrete bottleneck between an encoder and a decoder (section 3 of the 4M paper):
the encoder output ``z`` (B, D, *S) is mapped to integer ids and back to vectors the decoder reads.
Cosine-EMA VQ, Memcodes and FSQ differ only in how they do that; they all return a
:class:`QuantizerOutput` and can map ids back to vectors with :meth:`Quantizer.lookup`, so tokenizers
and training code never dispatch on the quantizer type.
"""

from __future__ import annotations

import abc
import dataclasses

import torch
from torch import nn


@dataclasses.dataclass(frozen=True)
class QuantizerOutput:
    """What a quantizer returns for an encoder output ``z`` of shape (B, D, *S).

    Attributes:
        quantized: (B, D, *S) vectors the decoder reads (straight-through in training, so gradients
            reach the encoder).
        ids: (B, *S) int64 token ids, or (B, Hc, *S) for quantizers with Hc > 1 parallel codebooks.
        loss: scalar auxiliary loss (commitment loss weighted by its weight; 0 where there is none).
    """

    quantized: torch.Tensor
    ids: torch.Tensor
    loss: torch.Tensor


class Quantizer(nn.Module, abc.ABC):
    """Base class: ``forward(z) -> QuantizerOutput`` and ``lookup(ids) -> vectors``.

    Subclasses set :attr:`dim` (channels D of ``z``), :attr:`codebook_size` (ids are in
    ``[0, codebook_size)``) and :attr:`num_codebooks` (Hc; ids get an extra axis when > 1).
    """

    dim: int
    codebook_size: int
    num_codebooks: int = 1

    @abc.abstractmethod
    def forward(self, z: torch.Tensor) -> QuantizerOutput:
        """Quantize ``z`` (B, D, *S); see :class:`QuantizerOutput` for the shapes."""

    @abc.abstractmethod
    def lookup(self, ids: torch.Tensor) -> torch.Tensor:
        """Vectors (B, D, *S) for ids (B, *S) (or (B, Hc, *S) with several codebooks)."""

    def check_input(self, z: torch.Tensor) -> None:
        """Raise a clear error unless ``z`` is a floating (B, D, *S) tensor with D == :attr:`dim`."""
        if not z.is_floating_point() or z.ndim < 2 or z.shape[1] != self.dim:
            raise ValueError(
                f"{type(self).__name__} expects a floating tensor (B, {self.dim}, ...) with the latent "
                f"channels second; got {tuple(z.shape)} {z.dtype}"
            )

    def check_ids(self, ids: torch.Tensor) -> None:
        """Raise a clear error unless ``ids`` are integers in ``[0, codebook_size)``."""
        if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
            raise TypeError(f"token ids must be an integer tensor, got {ids.dtype}")
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.codebook_size):
            raise ValueError(
                f"token ids must lie in [0, {self.codebook_size}); got range [{int(ids.min())}, {int(ids.max())}]"
            )
        if self.num_codebooks > 1 and (ids.ndim < 2 or ids.shape[1] != self.num_codebooks):
            raise ValueError(
                f"ids of a quantizer with {self.num_codebooks} codebooks have shape (B, "
                f"{self.num_codebooks}, ...); got {tuple(ids.shape)}"
            )
