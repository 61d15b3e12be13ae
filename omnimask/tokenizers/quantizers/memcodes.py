"""Memcodes: multi-head attention over a learned memory of codes (the released 4M global tokenizers).

The latent z (B, D, *S) is split into Hc heads of width d = D/Hc. Per head h, the query is
q = z_h · d^-½, keys and values are linear maps of the head's K codes (k = codes_h @ Wk_h,
v = codes_h @ Wv_h); the token is argmax_j ⟨q, k_j⟩ and the quantized vector is v[token]. In
training the choice is a straight-through hard Gumbel-softmax at a temperature, so the codes, the
maps and the encoder all get gradients and no commitment loss or EMA is needed (NWT, Memcodes).

Used by 4M-21's global-embedding tokenizers (e.g. 16 ``tok_dinov2_global`` tokens = Hc heads over a
(B, D, 1, 1) latent) and the pose tokenizer.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from omnimask.tokenizers.quantizers.base import Quantizer, QuantizerOutput


class Memcodes(Quantizer):
    """Memcodes quantizer with ``num_codebooks`` heads.

    Args:
        dim: latent width D (divisible by ``num_codebooks``).
        codebook_size: codes per head K.
        num_codebooks: heads Hc; ids are (B, Hc, *S) when Hc > 1, (B, *S) when Hc == 1.
        temperature: Gumbel-softmax temperature used in training.
        seed: seeds the generator of the Gumbel noise and of the initialisation.

    Parameters: ``codes`` (Hc, K, d), ``key_proj`` / ``value_proj`` (Hc, d, d) applied as
    ``codes_h @ W_h``.
    """

    def __init__(
        self, *, dim: int, codebook_size: int, num_codebooks: int = 1, temperature: float = 1.0, seed: int = 0
    ) -> None:
        super().__init__()
        if dim % num_codebooks:
            raise ValueError(f"Memcodes: dim {dim} must be divisible by num_codebooks {num_codebooks}")
        self.dim, self.codebook_size, self.num_codebooks = dim, codebook_size, num_codebooks
        self.temperature = temperature
        self.head_dim = dim // num_codebooks
        self.generator = torch.Generator().manual_seed(seed)
        d, hc = self.head_dim, num_codebooks
        self.codes = nn.Parameter(torch.randn(hc, codebook_size, d, generator=self.generator))
        bound = d**-0.5
        self.key_proj = nn.Parameter((torch.rand(hc, d, d, generator=self.generator) * 2 - 1) * bound)
        self.value_proj = nn.Parameter((torch.rand(hc, d, d, generator=self.generator) * 2 - 1) * bound)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, codebook_size={self.codebook_size}, num_codebooks={self.num_codebooks}"

    def keys_values(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of all codes, each (Hc, K, d)."""
        return self.codes @ self.key_proj, self.codes @ self.value_proj

    def _gumbel_hard(self, logits: torch.Tensor) -> torch.Tensor:
        """Straight-through hard Gumbel-softmax over the last axis (one-hot forward, soft gradient)."""
        u = torch.rand(logits.shape, generator=self.generator).to(logits)
        exp_noise = -torch.log(u.clamp_min(1e-20))  # Exp(1) samples
        gumbels = -torch.log(exp_noise.clamp_min(1e-20))
        soft = ((logits + gumbels) / self.temperature).softmax(dim=-1)
        hard = torch.zeros_like(soft).scatter_(-1, soft.argmax(dim=-1, keepdim=True), 1.0)
        return hard - soft.detach() + soft

    def forward(self, z: torch.Tensor) -> QuantizerOutput:
        """Quantize ``z`` (B, D, *S) → quantized (B, D, *S), ids (B, [Hc,] *S), zero loss."""
        self.check_input(z)
        grid = z.shape[2:]
        q = rearrange(z, "b (h d) ... -> b h (...) d", h=self.num_codebooks) * self.head_dim**-0.5
        keys, values = self.keys_values()
        logits = torch.einsum("bhnd,hkd->bhnk", q, keys)  # (B, Hc, N, K)
        if self.training:
            attn = self._gumbel_hard(logits)
            ids = attn.argmax(dim=-1)
            out = torch.einsum("bhnk,hkd->bhnd", attn, values)
        else:
            ids = logits.argmax(dim=-1)  # (B, Hc, N)
            out = self._gather(values, ids)
        quantized = rearrange(out, "b h n d -> b (h d) n").reshape(z.shape[0], self.dim, *grid)
        ids = ids.reshape(z.shape[0], self.num_codebooks, *grid)
        if self.num_codebooks == 1:
            ids = ids[:, 0]
        return QuantizerOutput(quantized=quantized, ids=ids, loss=z.new_zeros(()))

    @staticmethod
    def _gather(values: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """values (Hc, K, d), ids (B, Hc, N) → (B, Hc, N, d)."""
        heads = torch.arange(values.shape[0], device=ids.device).view(1, -1, 1)
        return values[heads, ids]

    def lookup(self, ids: torch.Tensor) -> torch.Tensor:
        """Quantized vectors (B, D, *S) for ids (B, [Hc,] *S)."""
        self.check_ids(ids)
        if self.num_codebooks == 1:
            ids = ids.unsqueeze(1)
        b, grid = ids.shape[0], ids.shape[2:]
        _, values = self.keys_values()
        out = self._gather(values, ids.reshape(b, self.num_codebooks, -1))
        return rearrange(out, "b h n d -> b (h d) n").reshape(b, self.dim, *grid)
