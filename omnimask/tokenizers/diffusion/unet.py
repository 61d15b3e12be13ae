"""The patched, latent-conditioned UNet denoiser of 4M's diffusion decoder ("DiVAE").

The noisy image (B, C, H, W) is pixel-unshuffled by ``patch_size`` p to (B, C·p², H/p, W/p) with
channels ordered (c, py, px); the quantized tokenizer latents (B, Dq, h, w), optionally zeroed where
they are not kept, are nearest-upsampled to (H/p, W/p) and concatenated after the image channels; an
ADM-style UNet (Dhariwal & Nichol 2021: GroupNorm/SiLU/conv residual blocks with an added timestep
embedding, single-scale self-attention at chosen downsampling factors, skip concatenations) maps this
to C·p² channels, which are shuffled back to (B, C, H, W).

Module names follow the released checkpoints (``time_embed``, ``input_blocks``, ``middle_block``,
``output_blocks``, ``out``; ``in_layers``/``emb_layers``/``out_layers``/``skip_connection`` in residual
blocks; ``norm``/``qkv``/``proj_out`` in attention blocks) so their weights load without renaming.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


@dataclasses.dataclass(kw_only=True)
class UNetConfig:
    """Hyper-parameters of :class:`PatchedUNet` (the released ``unet_patched`` preset by default)."""

    patch_size: int = 4
    model_channels: int = 256
    num_res_blocks: int = 3
    attention_resolutions: tuple[int, ...] = (4, 8)
    channel_mult: tuple[int, ...] = (1, 2, 2, 2)
    num_heads: int = 1
    dropout: float = 0.0
    use_scale_shift_norm: bool = False
    norm_groups: int = 32


class GroupNorm32(nn.GroupNorm):
    """GroupNorm computed in float32 whatever the input dtype (as the released UNet does)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.float()).to(x.dtype)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Sinusoidal embedding (B, dim) of timesteps t (B,): [cos(t·f), sin(t·f)], f_k = max_period^(−k/(dim/2))."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t[:, None].float() * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return F.pad(emb, (0, 1)) if dim % 2 else emb


class ResBlock(nn.Module):
    """h = conv(SiLU(GN(x))) + Linear(SiLU(emb)); h = conv(Dropout(SiLU(GN(h)))); out = skip(x) + h."""

    def __init__(self, channels: int, emb_channels: int, out_channels: int, cfg: UNetConfig) -> None:
        super().__init__()
        self.use_scale_shift_norm = cfg.use_scale_shift_norm
        g = cfg.norm_groups
        self.in_layers = nn.Sequential(
            GroupNorm32(g, channels), nn.SiLU(), nn.Conv2d(channels, out_channels, 3, padding=1)
        )
        emb_out = 2 * out_channels if cfg.use_scale_shift_norm else out_channels
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, emb_out))
        self.out_layers = nn.Sequential(
            GroupNorm32(g, out_channels),
            nn.SiLU(),
            nn.Dropout(cfg.dropout),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
        )
        self.skip_connection = nn.Identity() if channels == out_channels else nn.Conv2d(channels, out_channels, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """x (B, C, H, W), emb (B, E) → (B, C_out, H, W)."""
        h = self.in_layers(x)
        e = self.emb_layers(emb).to(h.dtype)[:, :, None, None]
        if self.use_scale_shift_norm:
            scale, shift = e.chunk(2, dim=1)
            h = self.out_layers[0](h) * (1 + scale) + shift
            h = self.out_layers[1:](h)
        else:
            h = self.out_layers(h + e)
        return self.skip_connection(x) + h


class AttentionBlock(nn.Module):
    """Self-attention over all spatial positions; qkv rows grouped per head as [q; k; v]."""

    def __init__(self, channels: int, num_heads: int, norm_groups: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.norm = GroupNorm32(norm_groups, channels)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj_out = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, C, H, W) → (B, C, H, W)."""
        b, c, h, w = x.shape
        flat = x.reshape(b, c, h * w)
        qkv = self.qkv(self.norm(flat))  # (B, 3C, T)
        q, k, v = rearrange(qkv, "b (h three c) t -> three b h t c", h=self.num_heads, three=3)
        out = F.scaled_dot_product_attention(q, k, v)  # softmax(q·kᵀ/√c)·v
        out = self.proj_out(rearrange(out, "b h t c -> b (h c) t"))
        return (flat + out).reshape(b, c, h, w)


class Downsample(nn.Module):
    """Stride-2 3×3 convolution."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.op = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Upsample(nn.Module):
    """Nearest ×2 upsampling then a 3×3 convolution."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class TimestepSequential(nn.Sequential):
    """A sequence of layers where residual blocks also receive the timestep embedding."""

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        for layer in self:
            x = layer(x, emb) if isinstance(layer, ResBlock) else layer(x)
        return x


class UNet(nn.Module):
    """ADM-style UNet mapping (B, in_channels, h, w) and timesteps (B,) to (B, out_channels, h, w)."""

    def __init__(self, in_channels: int, out_channels: int, cfg: UNetConfig) -> None:
        super().__init__()
        mc, heads, g = cfg.model_channels, cfg.num_heads, cfg.norm_groups
        emb_dim = 4 * mc
        self.model_channels = mc
        self.time_embed = nn.Sequential(nn.Linear(mc, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        ch = mc * cfg.channel_mult[0]
        self.input_blocks = nn.ModuleList([TimestepSequential(nn.Conv2d(in_channels, ch, 3, padding=1))])
        skip_channels, ds = [ch], 1
        for level, mult in enumerate(cfg.channel_mult):
            for _ in range(cfg.num_res_blocks):
                layers: list[nn.Module] = [ResBlock(ch, emb_dim, mc * mult, cfg)]
                ch = mc * mult
                if ds in cfg.attention_resolutions:
                    layers.append(AttentionBlock(ch, heads, g))
                self.input_blocks.append(TimestepSequential(*layers))
                skip_channels.append(ch)
            if level != len(cfg.channel_mult) - 1:
                self.input_blocks.append(TimestepSequential(Downsample(ch)))
                skip_channels.append(ch)
                ds *= 2
        self.middle_block = TimestepSequential(
            ResBlock(ch, emb_dim, ch, cfg), AttentionBlock(ch, heads, g), ResBlock(ch, emb_dim, ch, cfg)
        )
        self.output_blocks = nn.ModuleList()
        for level, mult in reversed(list(enumerate(cfg.channel_mult))):
            for i in range(cfg.num_res_blocks + 1):
                layers = [ResBlock(ch + skip_channels.pop(), emb_dim, mc * mult, cfg)]
                ch = mc * mult
                if ds in cfg.attention_resolutions:
                    layers.append(AttentionBlock(ch, heads, g))
                if level and i == cfg.num_res_blocks:
                    layers.append(Upsample(ch))
                    ds //= 2
                self.output_blocks.append(TimestepSequential(*layers))
        self.out = nn.Sequential(GroupNorm32(g, ch), nn.SiLU(), nn.Conv2d(ch, out_channels, 3, padding=1))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x (B, C_in, h, w), t (B,) or (1,) integer timesteps → (B, C_out, h, w)."""
        emb = self.time_embed(timestep_embedding(t.reshape(-1), self.model_channels))
        skips = []
        h = x
        for block in self.input_blocks:
            h = block(h, emb)
            skips.append(h)
        h = self.middle_block(h, emb)
        for block in self.output_blocks:
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
        return self.out(h)


class PatchedUNet(UNet):
    """The DiVAE decoder: patchify, concatenate upsampled latents, UNet, unpatchify (module docstring)."""

    def __init__(self, *, image_channels: int, cond_channels: int, cfg: UNetConfig) -> None:
        p2 = cfg.patch_size**2
        super().__init__(image_channels * p2 + cond_channels, image_channels * p2, cfg)
        self.patch_size, self.image_channels = cfg.patch_size, image_channels

    def forward(  # type: ignore[override]
        self, sample: torch.Tensor, t: torch.Tensor, cond: torch.Tensor, cond_keep: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Denoiser output (B, C, H, W) for the noisy sample (B, C, H, W) at timesteps t (B,).

        Args:
            cond: quantized latents (B, Dq, h, w).
            cond_keep: optional (B, h, w) bool, True = use that latent, False = zero it (the
                masked conditioning used for classifier-free guidance of the decoder).
        """
        _, c, height, width = sample.shape
        p = self.patch_size
        if c != self.image_channels or height % p or width % p:
            raise ValueError(
                f"the diffusion decoder takes (B, {self.image_channels}, H, W) with H, W divisible by {p}; "
                f"got {tuple(sample.shape)}"
            )
        x = F.pixel_unshuffle(sample, p)  # (B, C·p², H/p, W/p), channels (c, py, px)
        if cond_keep is not None:
            cond = torch.where(cond_keep[:, None], cond, torch.zeros((), dtype=cond.dtype, device=cond.device))
        cond = F.interpolate(cond, size=x.shape[-2:], mode="nearest")
        out = super().forward(torch.cat([x, cond.to(x.dtype)], dim=1), t.to(sample.device))
        return F.pixel_shuffle(out, p)
