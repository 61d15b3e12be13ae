"""Finite scalar quantization (FSQ, Mentzer et al. 2023): a lookup-free alternative to VQ.

The reference 4M has no FSQ; omnimask offers it because it needs no codebook, no EMA, no
commitment loss and no dead-code handling, and it uses its whole vocabulary by construction.

Each of the D = len(levels) latent channels is squashed by a shifted tanh into an interval holding
L_i integer points and rounded (straight-through in training); the point is rescaled to [-1, 1].
A position's id is the mixed-radix number of its D digits, so the vocabulary is prod(levels),
e.g. levels (8, 8, 8, 5, 5, 5) → 64 000 ids; (8, 5, 5, 5) → 1000.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from omnimask.tokenizers.quantizers.base import Quantizer, QuantizerOutput


class FSQ(Quantizer):
    """FSQ with the given number of levels per channel.

    Args:
        levels: L_i ≥ 2 per latent channel; D = len(levels), vocabulary prod(levels).
        eps: widens the tanh range slightly so the outermost levels are reachable.
    """

    levels: torch.Tensor  # (D,) buffers, declared so that type checkers see tensors, not Modules
    basis: torch.Tensor  # (D,)

    def __init__(self, *, levels: Sequence[int], eps: float = 1e-3) -> None:
        super().__init__()
        if not levels or any(int(n) < 2 for n in levels):
            raise ValueError(f"FSQ levels must all be ≥ 2, got {list(levels)}")
        self.levels_list = [int(n) for n in levels]
        self.dim = len(self.levels_list)
        self.codebook_size = math.prod(self.levels_list)
        self.eps = eps
        lv = torch.tensor(self.levels_list, dtype=torch.int64)
        basis = torch.cumprod(torch.cat([torch.ones(1, dtype=torch.int64), lv[:-1]]), dim=0)
        self.register_buffer("levels", lv, persistent=False)
        self.register_buffer("basis", basis, persistent=False)

    def extra_repr(self) -> str:
        return f"levels={self.levels_list}, codebook_size={self.codebook_size}"

    def _channels_last(self, t: torch.Tensor) -> torch.Tensor:
        return torch.movedim(t, 1, -1)

    def bound(self, z: torch.Tensor) -> torch.Tensor:
        """Squash channels-last ``z`` (..., D) so channel i lies in an interval of L_i integers."""
        half_l = (self.levels.to(z.dtype) - 1) * (1 + self.eps) / 2
        offset = torch.where(self.levels % 2 == 0, 0.5, 0.0).to(z.dtype)
        shift = torch.atanh(offset / half_l)
        return torch.tanh(z + shift) * half_l - offset

    def _half_width(self, dtype: torch.dtype) -> torch.Tensor:
        return (self.levels // 2).to(dtype)

    def codes_to_ids(self, codes: torch.Tensor) -> torch.Tensor:
        """Normalised grid points (..., D) → ids (...)."""
        half = self._half_width(codes.dtype)
        digits = torch.round(codes * half + half).to(torch.int64)
        return (digits * self.basis).sum(dim=-1)

    def ids_to_codes(self, ids: torch.Tensor) -> torch.Tensor:
        """Ids (...) → normalised grid points (..., D) in [-1, 1]."""
        digits = (ids.unsqueeze(-1) // self.basis) % self.levels
        half = self._half_width(torch.float32)
        return (digits.to(torch.float32) - half) / half

    def forward(self, z: torch.Tensor) -> QuantizerOutput:
        """Quantize ``z`` (B, D, *S) → grid points (B, D, *S) in [-1, 1], ids (B, *S), zero loss."""
        self.check_input(z)
        bounded = self.bound(self._channels_last(z.float()))
        rounded = bounded + (torch.round(bounded) - bounded).detach()  # straight-through rounding
        codes = rounded / self._half_width(rounded.dtype)
        ids = self.codes_to_ids(codes.detach())
        return QuantizerOutput(quantized=torch.movedim(codes, -1, 1), ids=ids, loss=z.new_zeros(()))

    def lookup(self, ids: torch.Tensor) -> torch.Tensor:
        """Grid points (B, D, *S) for ids (B, *S)."""
        self.check_ids(ids)
        return torch.movedim(self.ids_to_codes(ids), -1, 1)
