"""LayerNorm with an optional learnable bias (4M's "no-bias" release variants).

The released 4M models use LayerNorm without a learnable bias (``norm_bias=False``); the bias is then
a constant zero. It is kept as a non-persistent zero buffer so that the arithmetic is exactly
``F.layer_norm(x, w, 0)`` and our checkpoints do not carry a tensor that can never change
(:mod:`omnimask.compat` drops the zero buffers that the released checkpoints store).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm(nn.Module):
    """LayerNorm over the last axis; ``bias=False`` replaces the bias by a fixed zero vector.

    Args:
        dim: normalised width D.
        eps: variance epsilon (4M's transformer uses 1e-6).
        bias: learnable bias (True) or constant zero (False).
    """

    def __init__(self, dim: int, eps: float = 1e-6, bias: bool = True) -> None:
        super().__init__()
        self.dim = dim
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))
        if bias:
            self.bias = nn.Parameter(torch.zeros(dim))
        else:
            self.register_buffer("bias", torch.zeros(dim), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., D) -> (..., D)."""
        bias = self.bias if isinstance(self.bias, nn.Parameter) else self.bias.to(x.dtype)  # zero buffer
        return F.layer_norm(x, (self.dim,), self.weight, bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.dim}, eps={self.eps}, bias={isinstance(self.bias, nn.Parameter)}"
