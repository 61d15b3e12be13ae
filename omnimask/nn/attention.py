"""Multi-head self- and cross-attention on ``scaled_dot_product_attention`` (the 4M transformer's).

Parameter layout follows the released 4M checkpoints: self-attention has one fused input projection
``qkv`` whose output rows are ``[q; k; v]`` (each head-major) and an output projection ``proj``;
cross-attention has ``q``, ``kv`` (rows ``[k; v]``) and ``proj``. Optional QK-norm (``q_norm`` /
``k_norm``, a LayerNorm over the head dimension applied to queries and keys) is the variant of
the ``*_qknorm`` 4M models.

Masks are boolean with **True = may attend**, shaped (B, Nq, Nk) or anything broadcastable to it
(e.g. (B, 1, Nk) for key padding). A query row with no admissible key (a padding row, or a sample
whose encoder input is empty) yields exactly zero output and zero gradient, never NaN: this is
what the reference gives for an empty key set, and such rows never influence real positions.

:class:`KVCache` holds projected keys/values across incremental decoding calls (autoregressive
generation); it is state owned by the caller and is extended in place by the attention modules.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from omnimask.nn.norm import LayerNorm


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
    """Scaled dot-product attention with a boolean keep-mask and safe empty rows.

    Args:
        q: (B, H, Nq, K) queries.
        k: (B, H, Nk, K) keys.
        v: (B, H, Nk, K) values.
        keep: bool, broadcastable to (B, H, Nq, Nk); True = query may attend to key. None = all.

    Returns:
        (B, H, Nq, K); rows without any admissible key are zero.
    """
    if k.shape[-2] == 0:
        return q.new_zeros(*q.shape[:-1], v.shape[-1]) + 0 * q  # keeps q in the graph
    # bf16 on a CPU: written out where a backward follows (torch's fused kernel is slower there, see
    # explicit_attention), fused for inference (its forward alone is 2-6x faster than the written-out one).
    training_cpu_bf16 = q.device.type == "cpu" and q.dtype == torch.bfloat16 and torch.is_grad_enabled()
    kernel = explicit_attention if training_cpu_bf16 else F.scaled_dot_product_attention
    if keep is None:
        return kernel(q, k, v)
    has_key = keep.any(dim=-1, keepdim=True)  # (B, H|1, Nq|1, 1)
    # Empty rows attend everywhere (finite softmax) and are zeroed afterwards: no NaN on any backend.
    out = kernel(q, k, v, attn_mask=keep | ~has_key)
    return out.masked_fill(~has_key, 0.0)


def explicit_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                       attn_mask: torch.Tensor | None = None) -> torch.Tensor:
    """softmax(q·kᵀ/√K, masked) · v written out: what :func:`attend` runs for bf16 on a CPU when gradients
    are recorded, where torch's fused SDPA kernel is slower than this (fwd + bwd at synth_small's shapes,
    B=32 H=2 N=96 K=64: 10.0 ms fused vs 3.5 ms here; fp32: 6.5 vs 6.4 ms, so fp32 keeps SDPA). Without
    gradients the fused kernel wins (forward at B=16 H=4 N=208 K=64 on a Xeon with AMX-BF16: 1.5 ms fused
    vs 9.9 ms here). The softmax runs on the scores' own dtype: torch's CPU kernel accumulates bf16 in fp32,
    so the forward equals an fp32 softmax rounded to bf16, bit for bit, and skipping the two casts made
    fwd + bwd at B=32 H=4 N=128 K=64 21.3 → 14.0 ms and the 4M-7 d256 bf16 training step 1.07× faster
    (q / k gradients within 0.3 % of the fp32 softmax's, relative)."""
    scores = (q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5  # (B, H, Nq, Nk)
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, float("-inf"))
    return scores.softmax(-1) @ v


def split_heads(x: torch.Tensor, parts: int, heads: int) -> tuple[torch.Tensor, ...]:
    """A fused projection (B, N, parts·H·K), rows ``[part][head][k]`` → ``parts`` tensors (B, H, N, K) (views).

    Plain views and a permute: in autoregressive decoding this runs a dozen times per token, where
    einops' pattern parsing and caching cost more than the arithmetic."""
    b, n, width = x.shape
    return tuple(x.view(b, n, parts, heads, width // (parts * heads)).permute(2, 0, 3, 1, 4).unbind(0))


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, H, N, K) → (B, N, H·K), heads major (the inverse of :func:`split_heads` for one part)."""
    b, h, n, k = x.shape
    return x.transpose(1, 2).reshape(b, n, h * k)


class KVCache:
    """Keys and values (B, H, T, K) accumulated over incremental calls; ``k`` / ``v`` are None until first use.

    They live in buffers that grow by doubling, so appending one token writes only that token
    (amortised O(1)) instead of copying the whole history as a concatenation would; ``k`` and ``v``
    are views of the filled part. For inference: the buffers are written in place, which autograd
    would refuse for keys it has already used.
    """

    def __init__(self) -> None:
        self._k: torch.Tensor | None = None
        self._v: torch.Tensor | None = None
        self.length = 0

    @property
    def k(self) -> torch.Tensor | None:
        return None if self._k is None else self._k[..., : self.length, :]

    @property
    def v(self) -> torch.Tensor | None:
        return None if self._v is None else self._v[..., : self.length, :]

    @property
    def capacity(self) -> int:
        """Positions the buffers hold before they must grow."""
        return 0 if self._k is None else self._k.shape[-2]

    def extend(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append new keys/values (B, H, n, K) along the sequence axis; returns everything cached so far."""
        end = self.length + k.shape[-2]
        if self._k is None or self._v is None or end > self._k.shape[-2]:
            self._k, self._v = self._grown(self._k, k, end), self._grown(self._v, v, end)
        self._k[..., self.length : end, :] = k
        self._v[..., self.length : end, :] = v
        self.length = end
        return self._k[..., :end, :], self._v[..., :end, :]

    def _grown(self, buffer: torch.Tensor | None, new: torch.Tensor, needed: int) -> torch.Tensor:
        """A buffer like ``new`` with room for ``needed`` positions (at least twice the old), old part copied."""
        capacity = max(needed, 2 * (0 if buffer is None else buffer.shape[-2]))
        grown = new.new_empty(*new.shape[:-2], capacity, new.shape[-1])
        if buffer is not None:
            grown[..., : self.length, :] = buffer[..., : self.length, :]
        return grown


class _Attention(nn.Module):
    """Shared part of both attentions: head split, optional QK-norm, output projection ``proj``.

    Args:
        dim: width D (a multiple of ``num_heads``).
        num_heads: H.
        qkv_bias / proj_bias: biases of the input / output projections.
        qk_norm: LayerNorm over the head dimension of q and k.
        norm_eps / norm_bias: settings of the QK-norm LayerNorms.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        *,
        qkv_bias: bool = True,
        proj_bias: bool = True,
        qk_norm: bool = False,
        norm_eps: float = 1e-6,
        norm_bias: bool = True,
    ) -> None:
        if num_heads <= 0:
            raise ValueError(f"num_heads must be positive, got {num_heads}")
        if dim % num_heads:
            raise ValueError(f"attention width {dim} is not divisible by num_heads={num_heads}")
        super().__init__()
        self.num_heads = num_heads
        self.qkv_bias = qkv_bias
        head_dim = dim // num_heads
        self.q_norm = LayerNorm(head_dim, norm_eps, norm_bias) if qk_norm else nn.Identity()
        self.k_norm = LayerNorm(head_dim, norm_eps, norm_bias) if qk_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim, bias=proj_bias)

    def _output(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        """Heads (B, H, N, K) -> attended, merged and projected (B, N, D); keep (B, N|1, T)."""
        out = attend(q, k, v, None if keep is None else keep.unsqueeze(1))
        return self.proj(merge_heads(out))


class SelfAttention(_Attention):
    """Multi-head self-attention with fused ``qkv`` projection (arguments: see :class:`_Attention`)."""

    def __init__(self, dim: int, num_heads: int, **kwargs: Any) -> None:
        super().__init__(dim, num_heads, **kwargs)
        self.qkv = nn.Linear(dim, 3 * dim, bias=self.qkv_bias)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None, cache: KVCache | None = None) -> torch.Tensor:
        """x (B, N, D), keep (B, N|1, T) with T = cached + N keys -> (B, N, D).

        With ``cache`` the new keys/values are appended to it and queries see all cached keys.
        """
        q, k, v = split_heads(self.qkv(x), 3, self.num_heads)
        q, k = self.q_norm(q), self.k_norm(k)
        if cache is not None:
            k, v = cache.extend(k, v)
        return self._output(q, k, v, keep)


class CrossAttention(_Attention):
    """Multi-head attention from queries ``x`` to a separate ``context`` (``q`` and fused ``kv``).

    Arguments as for :class:`SelfAttention` (``qkv_bias`` applies to ``q`` and ``kv``).
    """

    def __init__(self, dim: int, num_heads: int, **kwargs: Any) -> None:
        super().__init__(dim, num_heads, **kwargs)
        self.q = nn.Linear(dim, dim, bias=self.qkv_bias)
        self.kv = nn.Linear(dim, 2 * dim, bias=self.qkv_bias)

    def project_context(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """context (B, M, D) -> keys, values (B, H, M, K)."""
        k, v = split_heads(self.kv(context), 2, self.num_heads)
        return self.k_norm(k), v

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor | None,
        keep: torch.Tensor | None = None,
        cache: KVCache | None = None,
    ) -> torch.Tensor:
        """x (B, N, D), context (B, M, D), keep (B, N|1, M) -> (B, N, D).

        With a filled ``cache`` the context projection is reused (``context`` may then be None);
        with an empty one it is computed once and stored.
        """
        (q,) = split_heads(self.q(x), 1, self.num_heads)
        q = self.q_norm(q)
        if cache is not None and cache.k is not None and cache.v is not None:
            k, v = cache.k, cache.v
        else:
            if context is None:
                raise ValueError("cross-attention needs a context (or a filled cache)")
            k, v = self.project_context(context)
            if cache is not None:
                cache.extend(k, v)
        return self._output(q, k, v, keep)
