"""MiniCLIP: a CLIP in miniature, the stand-in for the feature networks 4M-21 distils (CLIP, DINOv2, ImageBind).

4M-21 turns the outputs of big frozen networks into modalities: the patch features of CLIP-B/16 become
``tok_clip@224`` and pooled embeddings become ``tok_*_global``. Those networks cannot be downloaded
here, so omnimask ships a tiny CLIP trained on SynthWorld RGB–caption pairs
(trained by :mod:`omnimask.training.miniclip`) whose outputs play the same part:

* image tower — a ViT over 64×64 RGB cut into 8×8 patches (linear patch embedding, fixed 2-D sin-cos
  positions, :class:`~omnimask.nn.EncoderBlock` stack, final LayerNorm) gives an 8×8 grid of
  ``width``-dim **patch features**; their mean, projected to ``embed_dim`` and L2-normalised, is the
  **global embedding**;
* text tower — word embeddings plus fixed 1-D sin-cos positions, an encoder stack over the words
  (padding masked out), masked mean pooling, projection and L2 normalisation;
* a learned temperature ``logit_scale`` (log of the inverse temperature) for the InfoNCE loss.

Other image sizes: :func:`image_grid_tokens` accepts any H, W divisible by the patch size and resizes the
8×8 position table (bicubic, :func:`~omnimask.nn.resize_grid_table`), giving an (H/8)×(W/8) grid;
the labeler's default is instead to resize the *image* to 64×64 (see :mod:`.miniclip_labeler`).
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from omnimask.nn import BlockOptions, EncoderBlock, LayerNorm, resize_grid_table, sincos_1d, sincos_2d
from omnimask.nn.init import init_transformer_


@dataclasses.dataclass(kw_only=True)
class MiniClipConfig:
    """Architecture of a MiniCLIP (stored in its card; the defaults are the shipped model's).

    Attributes:
        image_size: training resolution S (square); the native patch grid is S / patch_size.
        patch_size: P, pixels per patch side.
        width: D, transformer width of both towers and C of the patch features.
        image_depth / text_depth: encoder blocks per tower.
        num_heads: attention heads H.
        mlp_ratio: MLP hidden width / D.
        embed_dim: E, width of the shared (L2-normalised) embedding space.
        vocab_size: V, word-vocabulary size including ``[PAD]`` and ``[UNK]``.
        max_text_len: longest caption in words (longer ones are cut).
        pixel_mean / pixel_std: per-channel normalisation of RGB scaled to [0, 1].
        init_temperature: initial softmax temperature of the contrastive loss (CLIP: 0.07).
        init_seed: seed of the parameter initialisation.
    """

    image_size: int = 64
    patch_size: int = 8
    width: int = 64
    image_depth: int = 4
    text_depth: int = 2
    num_heads: int = 4
    mlp_ratio: float = 2.0
    embed_dim: int = 64
    vocab_size: int = 128
    max_text_len: int = 64
    pixel_mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    pixel_std: tuple[float, float, float] = (0.25, 0.25, 0.25)
    init_temperature: float = 0.07
    init_seed: int = 0

    def __post_init__(self) -> None:
        if self.image_size % self.patch_size:
            raise ValueError(f"image_size {self.image_size} is not a multiple of patch_size {self.patch_size}")
        if self.width % 4:
            raise ValueError(f"width {self.width} must be a multiple of 4 (2-D sin-cos positions)")

    @property
    def grid(self) -> int:
        """Side of the native patch grid (8 for 64-px images and 8-px patches)."""
        return self.image_size // self.patch_size


#: Upper bound of the inverse temperature, as in CLIP (logit scale at most 100).
MAX_LOGIT_SCALE = math.log(100.0)


class MiniClip(nn.Module):
    """The two towers and the temperature (see the module docstring); built from a :class:`MiniClipConfig`."""

    # buffers, registered in __init__
    image_pos: torch.Tensor
    text_pos: torch.Tensor
    pixel_mean: torch.Tensor
    pixel_std: torch.Tensor

    def __init__(self, cfg: MiniClipConfig) -> None:
        super().__init__()
        self.config = cfg
        d, p = cfg.width, cfg.patch_size
        opts = BlockOptions(mlp_ratio=cfg.mlp_ratio)
        self.patch_embed = nn.Linear(3 * p * p, d)
        self.register_buffer("image_pos", sincos_2d(cfg.grid, cfg.grid, d), persistent=False)
        self.image_blocks = nn.ModuleList(EncoderBlock(d, cfg.num_heads, opts) for _ in range(cfg.image_depth))
        self.image_norm = LayerNorm(d)
        self.image_proj = nn.Linear(d, cfg.embed_dim, bias=False)
        self.word_embed = nn.Embedding(cfg.vocab_size, d)
        self.register_buffer("text_pos", sincos_1d(cfg.max_text_len, d), persistent=False)
        self.text_blocks = nn.ModuleList(EncoderBlock(d, cfg.num_heads, opts) for _ in range(cfg.text_depth))
        self.text_norm = LayerNorm(d)
        self.text_proj = nn.Linear(d, cfg.embed_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(0.0))
        self.register_buffer("pixel_mean", torch.tensor(cfg.pixel_mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(cfg.pixel_std).view(1, 3, 1, 1), persistent=False)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Initialise from ``config.init_seed``: Xavier-uniform linears, N(0, 0.02) word embeddings,
        LayerNorms 1 / 0, ``logit_scale = log(1 / init_temperature)``."""
        init_transformer_(self, torch.Generator().manual_seed(self.config.init_seed))
        self.logit_scale.fill_(math.log(1.0 / self.config.init_temperature))

    # -- image tower ---------------------------------------------------------------------------
    def normalize_pixels(self, rgb: torch.Tensor) -> torch.Tensor:
        """uint8 (B, H, W, 3) -> normalised float32 (B, 3, H, W)."""
        pixels = rearrange(rgb, "b h w c -> b c h w").to(torch.float32) / 255.0
        return (pixels - self.pixel_mean) / self.pixel_std

    def image_grid_tokens(self, pixels: torch.Tensor) -> torch.Tensor:
        """Normalised pixels (B, 3, H, W), H and W multiples of P -> patch features (B, H/P, W/P, D)."""
        p, grid = self.config.patch_size, self.config.grid
        h, w = pixels.shape[-2] // p, pixels.shape[-1] // p
        x = rearrange(pixels, "b c (h p) (w q) -> b (h w) (p q c)", p=p, q=p)  # (B, h*w, 3*P*P)
        x = self.patch_embed(x) + resize_grid_table(self.image_pos, (grid, grid), (h, w))  # (B, h*w, D)
        for block in self.image_blocks:
            x = block(x)
        return rearrange(self.image_norm(x), "b (h w) d -> b h w d", h=h, w=w)

    def embed_image_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """Patch features (B, h, w, D) -> unit-norm image embeddings (B, E) (mean pool, project)."""
        return F.normalize(self.image_proj(tokens.mean(dim=(1, 2))), dim=-1)

    # -- text tower ----------------------------------------------------------------------------
    def encode_text(self, ids: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """Word ids (B, L) and keep (B, L) bool (True = a word) -> unit-norm text embeddings (B, E)."""
        length = ids.shape[1]
        if length > self.config.max_text_len:
            raise ValueError(f"text of {length} words exceeds max_text_len={self.config.max_text_len}")
        x = self.word_embed(ids) + self.text_pos[:length]  # (B, L, D)
        attn_keep = keep[:, None, :]  # (B, 1, L): every word attends to every real word
        for block in self.text_blocks:
            x = block(x, attn_keep)
        x = self.text_norm(x)
        weights = keep.to(x.dtype)[..., None]  # (B, L, 1)
        pooled = (x * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)  # (B, D)
        return F.normalize(self.text_proj(pooled), dim=-1)

    # -- both ----------------------------------------------------------------------------------
    def forward(self, rgb: torch.Tensor, ids: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """uint8 RGB (B, S, S, 3), word ids and keep (B, L) -> image–text logits (B, B), scaled."""
        image = self.embed_image_tokens(self.image_grid_tokens(self.normalize_pixels(rgb)))
        text = self.encode_text(ids, keep)
        return self.logit_scale.clamp(max=MAX_LOGIT_SCALE).exp() * image @ text.T


def contrastive_loss(logits: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE of CLIP: logits (B, B) with matching pairs on the diagonal -> scalar."""
    target = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
