"""MLP VQ-VAE: 4M-21's tokenizer for vectors (global image embeddings such as DINOv2 / ImageBind, poses).

A vector x (B, C) is treated as a 1×1 map (B, C, 1, 1): encoder ``BottleneckMLP`` → ``quant_proj``
(1×1 conv) → latent (B, Dq, 1, 1) → quantizer (Memcodes with Hc heads in the releases, so one vector
becomes Hc tokens, e.g. 16 ``tok_dinov2_global`` tokens) → ``post_quant_proj`` → decoder
``BottleneckMLP`` → (B, C).

``BottleneckMLP`` (Scaling MLPs, Bachmann et al. 2023) is ``linear_in`` → n residual blocks
``X = X + fc2(GELU(fc1(LN(X))))`` of width w and hidden e·w → ``linear_out``, applied per position;
the released configs name it ``BottleneckMLP/B_<n>-Wi_<w>[-E_<e>]`` (parsed by
:meth:`BottleneckMLPConfig.parse`). Its LayerNorms use eps 1e-5 (PyTorch's default, as released).
"""

from __future__ import annotations

import dataclasses
import re

import torch
from torch import nn

from omnimask.nn import LayerNorm, Mlp
from omnimask.tokenizers.losses import LossName, reconstruction_loss
from omnimask.tokenizers.quantizers import QuantizerConfig, build_quantizer
from omnimask.tokenizers.vqvae import VQModel, VQVAEOutput

_MLP_ID = re.compile(r"^BottleneckMLP/B_(\d+)-Wi_(\d+)(?:-E_(\d+))?$")


@dataclasses.dataclass(kw_only=True)
class BottleneckMLPConfig:
    """n residual blocks of width w with hidden width expansion·w."""

    num_blocks: int = 6
    width: int = 1024
    expansion: int = 4

    @classmethod
    def parse(cls, model_id: str) -> BottleneckMLPConfig:
        """From a released id such as ``BottleneckMLP/B_2-Wi_64`` or ``BottleneckMLP/B_6-Wi_1024-E_4``."""
        m = _MLP_ID.match(model_id)
        if m is None:
            raise ValueError(f"cannot parse MLP id {model_id!r}; expected 'BottleneckMLP/B_<n>-Wi_<w>[-E_<e>]'")
        return cls(num_blocks=int(m[1]), width=int(m[2]), expansion=int(m[3] or 4))


class BottleneckMLP(nn.Module):
    """Residual bottleneck MLP applied per position: (B, C_in, *S) or (B, C_in) → same with C_out."""

    def __init__(self, dim_in: int, dim_out: int, cfg: BottleneckMLPConfig) -> None:
        super().__init__()
        w = cfg.width
        self.linear_in = nn.Linear(dim_in, w)
        self.layernorms = nn.ModuleList([LayerNorm(w, eps=1e-5) for _ in range(cfg.num_blocks)])
        self.blocks = nn.ModuleList([Mlp(w, cfg.expansion * w, act="gelu") for _ in range(cfg.num_blocks)])
        self.linear_out = nn.Linear(w, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Channels second: (B, C_in, ...) → (B, C_out, ...)."""
        h = self.linear_in(torch.movedim(x, 1, -1))
        for norm, block in zip(self.layernorms, self.blocks):
            h = h + block(norm(h))
        return torch.movedim(self.linear_out(h), -1, 1)


@dataclasses.dataclass(kw_only=True)
class MLPVQVAEConfig:
    """Architecture of an :class:`MLPVQVAE` (defaults: 4M-21's DINOv2-B14 global tokenizer)."""

    in_dim: int = 768
    latent_dim: int = 256
    encoder: BottleneckMLPConfig = dataclasses.field(default_factory=BottleneckMLPConfig)
    decoder: BottleneckMLPConfig = dataclasses.field(default_factory=BottleneckMLPConfig)
    quantizer: QuantizerConfig = dataclasses.field(
        default_factory=lambda: QuantizerConfig(kind="memcodes", codebook_size=8192, num_codebooks=16)
    )
    loss: LossName = "mse"

    @property
    def num_tokens(self) -> int:
        """Tokens per vector (the quantizer's codebooks)."""
        return self.quantizer.num_codebooks


class MLPVQVAE(VQModel):
    """Vector tokenizer: (B, C) ↔ (B, n) token ids (see module docstring)."""

    def __init__(self, cfg: MLPVQVAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = BottleneckMLP(cfg.in_dim, cfg.encoder.width, cfg.encoder)
        self.quant_proj = nn.Conv2d(cfg.encoder.width, cfg.latent_dim, 1)
        self.quantize = build_quantizer(cfg.quantizer, cfg.latent_dim)
        self.post_quant_proj = nn.Conv2d(cfg.latent_dim, cfg.decoder.width, 1)
        self.decoder = BottleneckMLP(cfg.decoder.width, cfg.in_dim, cfg.decoder)

    def _as_map(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C) or (B, C, 1, 1) → (B, C, 1, 1), with a clear error for anything else."""
        if x.ndim == 2:
            x = x[:, :, None, None]
        if x.ndim != 4 or x.shape[1:] != (self.cfg.in_dim, 1, 1):
            raise ValueError(f"the vector tokenizer takes (B, {self.cfg.in_dim}) vectors, got {tuple(x.shape)}")
        return x

    def latent(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-quantization latent (B, Dq, 1, 1) of vectors (B, C) or (B, C, 1, 1)."""
        return super().latent(self._as_map(x))

    @torch.no_grad()
    def tokenize(self, x: torch.Tensor) -> torch.Tensor:
        """Token ids (B, n) of vectors (B, C) (n = number of codebooks)."""
        return self.encode(x).ids.reshape(x.shape[0], -1)

    def lookup(self, ids: torch.Tensor) -> torch.Tensor:
        """Quantized latents (B, Dq, 1, 1) of ids (B, n) (or the quantizer's own (B, [Hc,] 1, 1))."""
        b, hc = ids.shape[0], self.quantize.num_codebooks
        if ids.numel() != b * hc:
            raise ValueError(f"expected {hc} token(s) per vector, got ids of shape {tuple(ids.shape)}")
        return self.quantize.lookup(ids.reshape(b, hc, 1, 1) if hc > 1 else ids.reshape(b, 1, 1))

    def decode_quant(self, quant: torch.Tensor) -> torch.Tensor:
        """Quantized latents (B, Dq, 1, 1) → vectors (B, C)."""
        return self.decoder(self.post_quant_proj(quant))[:, :, 0, 0]

    def decode_tokens(self, ids: torch.Tensor) -> torch.Tensor:
        """Token ids (B, n) → vectors (B, C)."""
        return self.decode_quant(self.lookup(ids))

    def forward(self, x: torch.Tensor) -> VQVAEOutput:
        """Autoencode vectors x (B, C): ``recon`` (B, C), ``ids`` (B, n), ``quantizer_loss``."""
        q = self.encode(x)
        return VQVAEOutput(recon=self.decode_quant(q.quantized), ids=q.ids.reshape(x.shape[0], -1),
                           quantizer_loss=q.loss)  # fmt: skip

    def training_loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Reconstruction (``cfg.loss``) + quantizer loss for vectors x (B, C); also returns ``ids``."""
        out = self(x)
        recon = reconstruction_loss(self.cfg.loss, out.recon, self._as_map(x)[:, :, 0, 0])
        return {"loss": recon + out.quantizer_loss, "recon_loss": recon, "quantizer_loss": out.quantizer_loss,
                "ids": out.ids}  # fmt: skip
