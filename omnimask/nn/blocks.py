"""Pre-norm transformer blocks of 4M (encoder and decoder) and stochastic depth.

* :class:`EncoderBlock` (also the tokenizers' ViT block): ``x += attn(norm1(x))``,
  ``x += mlp(norm2(x))``.
* :class:`DecoderBlock`: ``x += self_attn(norm1(x))``,
  ``x += cross_attn(query_norm(x), context_norm(context))``, ``x += mlp(norm2(x))``; the query and
  the context have separate norms, as in the released 4M decoder.
* :class:`DropPath`: per-sample residual-branch dropout (stochastic depth) during training.

All hyper-parameters shared by a stack of blocks live in one :class:`BlockOptions` value.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from omnimask.nn.attention import CrossAttention, KVCache, SelfAttention
from omnimask.nn.mlp import ACTIVATIONS, build_mlp
from omnimask.nn.norm import LayerNorm


@dataclasses.dataclass(frozen=True, kw_only=True)
class BlockOptions:
    """Hyper-parameters of a transformer block (defaults: a standard ViT block); the block's shape
    (width D, heads H) is given to the block itself.

    Attributes:
        mlp_ratio: MLP width ratio r.
        gated_mlp: SwiGLU-style gated MLP (hidden ``int(2*int(D*r)/3)``) instead of a plain one.
        act: MLP activation name (see :data:`omnimask.nn.mlp.ACTIVATIONS`).
        qkv_bias / proj_bias / mlp_bias: biases of attention in- and out-projections and MLP linears.
        norm_bias: learnable LayerNorm bias (False: constant zero).
        qk_norm: LayerNorm of queries and keys per head.
        norm_eps: LayerNorm epsilon.
    """

    mlp_ratio: float = 4.0
    gated_mlp: bool = False
    act: str = "gelu"
    qkv_bias: bool = True
    proj_bias: bool = True
    mlp_bias: bool = True
    norm_bias: bool = True
    qk_norm: bool = False
    norm_eps: float = 1e-6

    def __post_init__(self) -> None:
        if self.mlp_ratio <= 0:
            raise ValueError(f"mlp_ratio must be positive, got {self.mlp_ratio}")
        if self.act.lower() not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.act!r}; choose one of {sorted(ACTIVATIONS)}")
        if self.norm_eps <= 0:
            raise ValueError(f"norm_eps must be positive, got {self.norm_eps}")

    def norm(self, dim: int) -> LayerNorm:
        return LayerNorm(dim, self.norm_eps, self.norm_bias)

    def mlp(self, dim: int) -> nn.Module:
        return build_mlp(dim, self.mlp_ratio, gated=self.gated_mlp, act=self.act, bias=self.mlp_bias)

    def attention_kwargs(self) -> dict[str, object]:
        return {
            "qkv_bias": self.qkv_bias,
            "proj_bias": self.proj_bias,
            "qk_norm": self.qk_norm,
            "norm_eps": self.norm_eps,
            "norm_bias": self.norm_bias,
        }


class DropPath(nn.Module):
    """Stochastic depth: zero a residual branch for a random subset of samples while training.

    Surviving samples are scaled by ``1 / (1 - p)``. Random draws use ``generator`` when set
    (the trainer seeds it); identity in eval mode or with ``p == 0``.
    """

    def __init__(self, p: float = 0.0, generator: torch.Generator | None = None) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"drop-path probability must be in [0, 1), got {p}")
        self.p = p
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, ...) -> (B, ...)."""
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        device = self.generator.device if self.generator is not None else x.device
        draw = torch.rand(x.shape[0], generator=self.generator, device=device).to(x.device)
        mask = (draw < keep).to(x.dtype).view(-1, *([1] * (x.ndim - 1)))  # (B, 1, ..., 1)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


class EncoderBlock(nn.Module):
    """Pre-norm self-attention block: (B, N, D) -> (B, N, D), with ``num_heads`` heads."""

    def __init__(self, dim: int, num_heads: int, opts: BlockOptions, drop_path: float = 0.0) -> None:
        super().__init__()
        self.norm1 = opts.norm(dim)
        self.attn = SelfAttention(dim, num_heads, **opts.attention_kwargs())
        self.norm2 = opts.norm(dim)
        self.mlp = opts.mlp(dim)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, N, D); keep (B, N|1, N) bool, True = may attend."""
        x = x + self.drop_path(self.attn(self.norm1(x), keep))
        return x + self.drop_path(self.mlp(self.norm2(x)))


@dataclasses.dataclass
class DecoderLayerCache:
    """Per-layer decoding state: self-attention keys/values so far, projected context keys/values."""

    self_attn: KVCache = dataclasses.field(default_factory=KVCache)
    cross_attn: KVCache = dataclasses.field(default_factory=KVCache)


class DecoderBlock(nn.Module):
    """Pre-norm block with self-attention, cross-attention to a context, and MLP (``num_heads`` heads)."""

    def __init__(self, dim: int, num_heads: int, opts: BlockOptions, drop_path: float = 0.0) -> None:
        super().__init__()
        self.norm1 = opts.norm(dim)
        self.self_attn = SelfAttention(dim, num_heads, **opts.attention_kwargs())
        self.query_norm = opts.norm(dim)
        self.context_norm = opts.norm(dim)
        self.cross_attn = CrossAttention(dim, num_heads, **opts.attention_kwargs())
        self.norm2 = opts.norm(dim)
        self.mlp = opts.mlp(dim)
        self.drop_path = DropPath(drop_path)

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor,
        self_keep: torch.Tensor | None = None,
        cross_keep: torch.Tensor | None = None,
        cache: DecoderLayerCache | None = None,
    ) -> torch.Tensor:
        """x (B, N, D), context (B, M, D); self_keep (B, N|1, T), cross_keep (B, N|1, M) -> (B, N, D).

        T = N, or cached + N keys when ``cache`` is given (it is then extended in place).
        """
        self_cache = cache.self_attn if cache is not None else None
        cross_cache = cache.cross_attn if cache is not None else None
        x = x + self.drop_path(self.self_attn(self.norm1(x), self_keep, self_cache))
        # The normalised context is only needed when its projection is not cached yet.
        ctx = None if cross_cache is not None and cross_cache.k is not None else self.context_norm(context)
        x = x + self.drop_path(self.cross_attn(self.query_norm(x), ctx, cross_keep, cross_cache))
        return x + self.drop_path(self.mlp(self.norm2(x)))
