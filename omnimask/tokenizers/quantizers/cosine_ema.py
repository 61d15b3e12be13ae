"""Cosine-similarity vector quantizer with an EMA-updated codebook (the released 4M image tokenizers).

Each latent vector picks the code with the highest cosine similarity (ViT-VQGAN's l2-normalised
codes, which let a small latent width such as 32 work). Unlike the similarity, the vector handed to
the decoder is the **raw** codebook row: the EMA update below moves rows toward unit-norm targets
without renormalising them, so rows drift off the sphere, and the released checkpoints depend on
using them as stored (reference-fixture README §9.2 / §12).

Training-time pieces, active only in ``train()`` mode:

* EMA update: per code, ``cluster_size ← d·cluster_size + (1−d)·count`` and
  ``row ← d·row + (1−d)·l2norm(mean of the normalised latents assigned to it)`` (codes with no
  assignment move toward their own normalised row);
* commitment loss ``w · mse(code.detach(), z)`` and a straight-through estimator;
* dead-code replacement: codes whose EMA cluster size falls below a threshold are replaced by
  random (normalised) latents of the batch (``batch_random``) or by slightly perturbed copies of the
  most used codes (``linde_buzo_gray`` splitting);
* an optional data-dependent initialisation from the first batch (``data_init``).

The codebook lives in buffers (``embed``, ``cluster_size``, ``initted``), not parameters: the
optimizer never touches it. Multi-process training sums the per-code statistics across ranks through
:attr:`CosineEMAQuantizer.reduce_fn`, which the training code sets (the model never imports
``torch.distributed``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from omnimask.tokenizers.quantizers.base import Quantizer, QuantizerOutput

Replacement = Literal["batch_random", "linde_buzo_gray"]


def l2norm(x: torch.Tensor) -> torch.Tensor:
    """x / max(‖x‖₂, 1e-12) along the last axis."""
    return F.normalize(x, p=2.0, dim=-1, eps=1e-12)


class CosineEMAQuantizer(Quantizer):
    """Cosine-similarity VQ with an EMA codebook.

    Args:
        dim: latent width D.
        codebook_size: number of codes K.
        decay: EMA decay d of the codebook statistics.
        dead_code_threshold: codes whose EMA cluster size is below this are replaced (0 disables).
        replacement: ``batch_random`` or ``linde_buzo_gray`` (see module docstring).
        commitment_weight: weight w of the commitment loss.
        norm_latents: l2-normalise latents before the commitment loss / straight-through.
        data_init: initialise the codebook from the first training batch instead of at random.
        split_noise: standard deviation of the perturbation used by ``linde_buzo_gray``.
        seed: seeds the generator of every random choice of this module (init, replacement).
    """

    embed: torch.Tensor  # (K, D) buffers, declared so that type checkers see tensors, not Modules
    cluster_size: torch.Tensor  # (K,)
    initted: torch.Tensor  # (1,)

    def __init__(
        self,
        *,
        dim: int,
        codebook_size: int,
        decay: float = 0.99,
        dead_code_threshold: float = 0.25,
        replacement: Replacement = "batch_random",
        commitment_weight: float = 1.0,
        norm_latents: bool = False,
        data_init: bool = False,
        split_noise: float = 1e-3,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if replacement not in ("batch_random", "linde_buzo_gray"):
            raise ValueError(f"replacement must be 'batch_random' or 'linde_buzo_gray', got {replacement!r}")
        self.dim, self.codebook_size = dim, codebook_size
        self.decay, self.dead_code_threshold, self.replacement = decay, dead_code_threshold, replacement
        self.commitment_weight, self.norm_latents, self.split_noise = commitment_weight, norm_latents, split_noise
        self.generator = torch.Generator().manual_seed(seed)
        embed = torch.empty(codebook_size, dim)
        nn.init.kaiming_uniform_(embed, generator=self.generator)
        self.register_buffer("embed", l2norm(embed))
        self.register_buffer("cluster_size", torch.zeros(codebook_size))
        self.register_buffer("initted", torch.tensor([0.0 if data_init else 1.0]))
        #: Called in place on per-code counts (K,) and sums (K, D) before the EMA update; training
        #: code sets it to an all-reduce so every rank keeps the same codebook.
        self.reduce_fn: Callable[[torch.Tensor], None] | None = None

    def extra_repr(self) -> str:
        return f"dim={self.dim}, codebook_size={self.codebook_size}, decay={self.decay}"

    # ---- inference ------------------------------------------------------------------------------
    def nearest(self, flat: torch.Tensor) -> torch.Tensor:
        """Ids (N,) of the codes with the highest cosine similarity to the rows of ``flat`` (N, D)."""
        scores = l2norm(flat.float()) @ l2norm(self.embed.float()).t()  # (N, K)
        return scores.argmax(dim=-1)

    def lookup(self, ids: torch.Tensor) -> torch.Tensor:
        """Raw codebook rows for ids (B, *S) → (B, D, *S)."""
        self.check_ids(ids)
        return torch.movedim(F.embedding(ids, self.embed), -1, 1)

    def forward(self, z: torch.Tensor) -> QuantizerOutput:
        """Quantize ``z`` (B, D, *S) → quantized (B, D, *S), ids (B, *S), commitment loss."""
        self.check_input(z)
        flat = rearrange(z.float(), "b d ... -> b ... d")
        grid = flat.shape[:-1]
        flat = flat.reshape(-1, self.dim)  # (N, D)
        if self.norm_latents:
            flat = l2norm(flat)
        if self.training and not bool(self.initted.item()):
            self._init_from(flat.detach())
        ids = self.nearest(flat)
        quantized = F.embedding(ids, self.embed)  # (N, D) raw rows
        loss = flat.new_zeros(())
        if self.training:
            self.ema_update(flat.detach(), ids)
            if self.commitment_weight > 0:
                loss = self.commitment_weight * F.mse_loss(quantized.detach(), flat)
            quantized = flat + (quantized - flat).detach()  # straight-through estimator
        quantized = torch.movedim(quantized.reshape(*grid, self.dim), -1, 1)
        return QuantizerOutput(quantized=quantized, ids=ids.reshape(grid), loss=loss)

    # ---- training -------------------------------------------------------------------------------
    def _random_rows(self, n_rows: int, n: int) -> torch.Tensor:
        if n_rows >= n:
            return torch.randperm(n_rows, generator=self.generator)[:n]
        return torch.randint(0, n_rows, (n,), generator=self.generator)

    @torch.no_grad()
    def _init_from(self, flat: torch.Tensor) -> None:
        rows = self._random_rows(flat.shape[0], self.codebook_size).to(flat.device)
        self.embed.copy_(l2norm(flat[rows]))
        self.cluster_size.zero_()
        self.initted.fill_(1.0)

    @torch.no_grad()
    def ema_update(self, flat: torch.Tensor, ids: torch.Tensor) -> None:
        """One EMA step from latents ``flat`` (N, D) assigned to ``ids`` (N,), then dead-code replacement."""
        normed = l2norm(flat.float())
        counts = torch.bincount(ids, minlength=self.codebook_size).to(normed.dtype)  # (K,)
        sums = torch.zeros_like(self.embed).index_add_(0, ids, normed)  # (K, D)
        if self.reduce_fn is not None:
            self.reduce_fn(counts)
            self.reduce_fn(sums)
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        unused = counts == 0
        targets = l2norm(sums / counts.clamp(min=1).unsqueeze(1))
        targets = torch.where(unused.unsqueeze(1), l2norm(self.embed), targets)
        self.embed.lerp_(targets, 1 - self.decay)
        self.replace_dead_codes(normed)

    @property
    def dead_codes(self) -> torch.Tensor:
        """Boolean mask (K,) of codes whose EMA cluster size is below the threshold."""
        return self.cluster_size < self.dead_code_threshold

    @torch.no_grad()
    def replace_dead_codes(self, normed: torch.Tensor) -> int:
        """Replace dead codes (see module docstring) using normalised latents (N, D); returns how many."""
        if self.dead_code_threshold <= 0:
            return 0
        dead = self.dead_codes
        n = int(dead.sum())
        if n == 0:
            return 0
        if self.replacement == "batch_random":
            new = normed[self._random_rows(normed.shape[0], n).to(normed.device)]
        else:
            most_used = self.cluster_size.argsort(descending=True)[:n]
            noise = torch.randn(n, self.dim, generator=self.generator).to(self.embed)
            new = l2norm(self.embed[most_used] + self.split_noise * noise)
        self.embed[dead] = new.to(self.embed.dtype)
        return n
