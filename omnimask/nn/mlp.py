"""Transformer feed-forward layers: the plain GELU MLP and the gated "SwiGLU" MLP of 4M.

* :class:`Mlp` — ``fc2(act(fc1(x)))``, the ViT / original 4M-GELU block.
* :class:`GatedMlp` — ``fc2(act(fc1(x)) * fc3(x))`` with SiLU in the released models. With width D
  and ratio r its hidden size is ``int(2 * int(D * r) / 3)`` (the extra matmul is paid for by a
  hidden layer 2/3 as wide), e.g. 170 for D = 64, r = 4.

Activations are chosen by name from :data:`ACTIVATIONS` (case-insensitive, so the reference's
``"SiLU"`` / ``"GELU"`` class names work too).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import nn

#: Activation name -> module factory.
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "gelu": nn.GELU,
    "gelu_tanh": functools.partial(nn.GELU, approximate="tanh"),
    "silu": nn.SiLU,
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
}


def make_activation(name: str) -> nn.Module:
    """The activation module called ``name`` (case-insensitive); unknown names list the known ones."""
    try:
        return ACTIVATIONS[name.lower()]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}") from None


def mlp_hidden_dim(dim: int, mlp_ratio: float, gated: bool) -> int:
    """Hidden width of the feed-forward layer exactly as in 4M (see the module docstring)."""
    hidden = int(dim * mlp_ratio)
    return int(2 * hidden / 3) if gated else hidden


class Mlp(nn.Module):
    """``fc2(act(fc1(x)))``: (..., D) -> (..., D)."""

    def __init__(self, dim: int, hidden: int, act: str = "gelu", bias: bool = True) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden, bias=bias)
        self.act = make_activation(act)
        self.fc2 = nn.Linear(hidden, dim, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class GatedMlp(nn.Module):
    """``fc2(act(fc1(x)) * fc3(x))`` (SwiGLU with ``act="silu"``): (..., D) -> (..., D).

    ``hidden`` is the actual hidden width (use :func:`mlp_hidden_dim` for 4M's value).
    """

    def __init__(self, dim: int, hidden: int, act: str = "silu", bias: bool = True) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden, bias=bias)
        self.act = make_activation(act)
        self.fc2 = nn.Linear(hidden, dim, bias=bias)
        self.fc3 = nn.Linear(dim, hidden, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)) * self.fc3(x))


def build_mlp(dim: int, mlp_ratio: float, *, gated: bool, act: str, bias: bool) -> nn.Module:
    """The MLP of a 4M block: :class:`GatedMlp` when ``gated`` else :class:`Mlp`."""
    hidden = mlp_hidden_dim(dim, mlp_ratio, gated)
    return GatedMlp(dim, hidden, act, bias) if gated else Mlp(dim, hidden, act, bias)
