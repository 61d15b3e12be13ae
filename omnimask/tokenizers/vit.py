"""ViT encoder and decoder of 4M's spatial tokenizers (image-like modalities and feature maps).

Encoder: (B, C, H, W) → p×p patch projection (a strided convolution, or a 1×1 one for feature maps
that are already on the token grid) → tokens (B, h·w, D) row-major → + position table → pre-norm
transformer blocks → optional ``post_mlp`` (``X + fc2(tanh(fc1(LN(X))))``, ViT-VQGAN's head, in
float32) → (B, D, h, w).

Decoder: (B, D, h, w) → tokens + position table → blocks → optional ``post_mlp`` → ``out_proj``
Linear(D, C_out·p·p) → unpatchified with features ordered (c, py, px) → (B, C_out, h·p, w·p).

The position table is a frozen sin-cos table (1, D, h0, w0) for the native ``image_size``; at any
other grid it is resized by bicubic interpolation (``align_corners=False``), so one tokenizer serves
several resolutions (the released 4M tokenizers were trained at 224–448). Transformer blocks, the
MLP and the tables come from :mod:`omnimask.nn`. Parameter names match the released checkpoints.
"""

from __future__ import annotations

import dataclasses

import torch
from einops import rearrange
from torch import nn

from omnimask.nn import BlockOptions, EncoderBlock, LayerNorm, Mlp, resize_grid_table, sincos_2d


@dataclasses.dataclass(kw_only=True)
class ViTConfig:
    """Width and depth of a tokenizer ViT (the released ``vit_b_*`` presets by default)."""

    dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    norm_eps: float = 1e-6


def _grid(image_size: int | tuple[int, int], patch_size: int) -> tuple[int, int]:
    h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
    if h % patch_size or w % patch_size:
        raise ValueError(f"image size {h}x{w} is not divisible by the patch size {patch_size}")
    return h // patch_size, w // patch_size


class _ViTTrunk(nn.Module):
    """Position table + blocks + optional post-MLP shared by encoder and decoder."""

    pos_emb: torch.Tensor  # buffer (1, D, h, w), registered in __init__

    def __init__(self, cfg: ViTConfig, native_grid: tuple[int, int], post_mlp: bool) -> None:
        super().__init__()
        d = cfg.dim
        table = sincos_2d(native_grid[0], native_grid[1], d)
        self.register_buffer("pos_emb", rearrange(table, "(h w) d -> 1 d h w", h=native_grid[0]).contiguous())
        opts = BlockOptions(mlp_ratio=cfg.mlp_ratio, qkv_bias=cfg.qkv_bias, norm_eps=cfg.norm_eps)
        self.blocks = nn.ModuleList([EncoderBlock(d, cfg.num_heads, opts) for _ in range(cfg.depth)])
        if post_mlp:
            self.norm_mlp = LayerNorm(d, cfg.norm_eps)
            self.post_mlp = Mlp(d, int(cfg.mlp_ratio * d), act="tanh")
        self.has_post_mlp = post_mlp
        self.dim = d

    def position_table(self, grid: tuple[int, int]) -> torch.Tensor:
        """The table resized to ``grid`` as (h·w, D)."""
        native = (self.pos_emb.shape[2], self.pos_emb.shape[3])
        table = rearrange(self.pos_emb, "1 d h w -> (h w) d")
        return resize_grid_table(table, native, grid)

    def run(self, tokens: torch.Tensor, grid: tuple[int, int], post_mlp_fp32: bool) -> torch.Tensor:
        """tokens (B, h·w, D) → + positions → blocks → post-MLP → (B, h·w, D)."""
        x = tokens + self.position_table(grid).to(tokens.dtype)
        for block in self.blocks:
            x = block(x)
        if self.has_post_mlp:
            if post_mlp_fp32:
                with torch.autocast(device_type=x.device.type, enabled=False):
                    x = x.float() + self.post_mlp(self.norm_mlp(x.float()))
            else:
                x = x + self.post_mlp(self.norm_mlp(x))
        return x


class ViTEncoder(_ViTTrunk):
    """(B, C, H, W) → (B, D, H/p, W/p) (see module docstring).

    Args:
        in_channels: C.
        patch_size: p (ignored for the token grid when ``patch_proj`` is False: input is (B, C, h, w)).
        image_size: native resolution of the position table (int or (H, W)).
        cfg: width / depth / heads.
        patch_proj: strided p×p projection (True) or 1×1 projection of a feature map (False).
        post_mlp: add the tanh post-MLP.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        patch_size: int,
        image_size: int | tuple[int, int],
        cfg: ViTConfig,
        patch_proj: bool = True,
        post_mlp: bool = False,
    ) -> None:
        super().__init__(cfg, _grid(image_size, patch_size), post_mlp)
        self.in_channels, self.patch_size, self.patch_proj = in_channels, patch_size, patch_proj
        k = patch_size if patch_proj else 1
        self.proj = nn.Conv2d(in_channels, cfg.dim, kernel_size=k, stride=k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, C, H, W) → (B, D, h, w)."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"ViT encoder expects (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        if self.patch_proj and (x.shape[2] % self.patch_size or x.shape[3] % self.patch_size):
            raise ValueError(
                f"input size {x.shape[2]}x{x.shape[3]} is not divisible by the patch size {self.patch_size}"
            )
        feats = self.proj(x)  # (B, D, h, w)
        grid = (feats.shape[2], feats.shape[3])
        out = self.run(rearrange(feats, "b d h w -> b (h w) d"), grid, post_mlp_fp32=True)
        return rearrange(out, "b (h w) d -> b d h w", h=grid[0])


class ViTDecoder(_ViTTrunk):
    """(B, D, h, w) → (B, C_out, h·p, w·p) (see module docstring; arguments as :class:`ViTEncoder`)."""

    def __init__(
        self,
        *,
        out_channels: int,
        patch_size: int,
        image_size: int | tuple[int, int],
        cfg: ViTConfig,
        patch_proj: bool = True,
        post_mlp: bool = False,
    ) -> None:
        super().__init__(cfg, _grid(image_size, patch_size), post_mlp)
        self.out_channels = out_channels
        self.patch = patch_size if patch_proj else 1
        self.out_proj = nn.Linear(cfg.dim, out_channels * self.patch**2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, D, h, w) → (B, C_out, h·p, w·p)."""
        if x.ndim != 4 or x.shape[1] != self.dim:
            raise ValueError(f"ViT decoder expects (B, {self.dim}, h, w), got {tuple(x.shape)}")
        grid = (x.shape[2], x.shape[3])
        out = self.out_proj(self.run(rearrange(x, "b d h w -> b (h w) d"), grid, post_mlp_fp32=False))
        p = self.patch
        return rearrange(out, "b (h w) (c ph pw) -> b c (h ph) (w pw)", h=grid[0], ph=p, pw=p)
