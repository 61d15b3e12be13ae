"""Fixed sine-cosine position embeddings of 4M (1-D for sequences, 2-D for token grids) and resizing.

Formulas (reference-fixture README, section 10), all in float32 like the reference:

* 1-D, width D, P = D/2, ω_k = 1 / T^(k/P): row n = [sin(n·ω), cos(n·ω)].
* 2-D, grid h×w flattened to n = 0..h·w−1, Q = D/4, ω_k = 1 / T^(k/Q), a = n div h, b = n mod h:
  row n = [sin(a·ω), cos(a·ω), sin(b·ω), cos(b·ω)] — for square row-major grids (n = r·w + c)
  this is [sin(r·ω), cos(r·ω), sin(c·ω), cos(c·ω)].

:func:`resize_grid_table` resizes a 2-D table to another grid with bicubic interpolation
(``align_corners=False``, no antialiasing), as the 4M tokenizers do when run at another resolution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange


def _frequencies(n: int, temperature: float) -> torch.Tensor:
    """ω_k = 1 / T^(k/n), k < n, computed in float32 exactly as the reference does."""
    exponent = torch.arange(n, dtype=torch.float32) / n
    return 1.0 / (temperature**exponent)


def sincos_1d(length: int, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """1-D table (length, dim), float32; ``dim`` must be even."""
    if dim % 2:
        raise ValueError(f"1-D sin-cos embedding needs an even width, got {dim}")
    angle = torch.arange(length, dtype=torch.float32)[:, None] * _frequencies(dim // 2, temperature)[None]
    return torch.cat([angle.sin(), angle.cos()], dim=1)


def sincos_2d(h: int, w: int, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """2-D table (h*w, dim) for an h×w grid, float32; ``dim`` must be a multiple of 4."""
    if dim % 4:
        raise ValueError(f"2-D sin-cos embedding needs a width divisible by 4, got {dim}")
    omega = _frequencies(dim // 4, temperature)
    n = torch.arange(h * w)
    a = torch.div(n, h, rounding_mode="floor").to(torch.float32)[:, None] * omega[None]
    b = (n % h).to(torch.float32)[:, None] * omega[None]
    return torch.cat([a.sin(), a.cos(), b.sin(), b.cos()], dim=1)


def resize_grid_table(table: torch.Tensor, grid: tuple[int, int], new_grid: tuple[int, int]) -> torch.Tensor:
    """Resize a row-major grid table (h*w, D) to (h2*w2, D) by bicubic interpolation.

    Identity (returns ``table`` itself) when the grid does not change.
    """
    if tuple(grid) == tuple(new_grid):
        return table
    h, w = grid
    image = rearrange(table, "(h w) d -> 1 d h w", h=h, w=w)  # (1, D, h, w)
    resized = F.interpolate(image, size=tuple(new_grid), mode="bicubic", align_corners=False)
    return rearrange(resized, "1 d h w -> (h w) d")
