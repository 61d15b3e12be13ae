"""Spatial VQ-VAE: 4M's tokenizer for image-like modalities and feature maps (ViT encoder + decoder).

Pipeline (4M section 3.2 / appendix; reference-fixture README §9.2):
``x`` (B, C, H, W) — or a class map (B, H, W) embedded to (B, C, H, W) by ``cls_emb`` for semantic
segmentation — → :class:`~omnimask.tokenizers.vit.ViTEncoder` (B, D, h, w) → ``quant_proj`` (1×1 conv)
→ latent (B, Dq, h, w) → quantizer → ids (B, h, w) and vectors (B, Dq, h, w) → ``post_quant_proj``
(1×1 conv) → :class:`~omnimask.tokenizers.vit.ViTDecoder` → (B, C_out, H, W), with C_out the class
count for segmentation (logits) and C otherwise.

:class:`VQModel` is the encoder half (input embedding, encoder, ``quant_proj``, quantizer) shared with
the MLP VQ-VAE and the diffusion decoder tokenizer. Training: :meth:`SpatialVQVAE.training_loss` is the
modality's reconstruction loss (:mod:`omnimask.tokenizers.losses`) plus the quantizer's loss.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
from torch import nn

from omnimask.tokenizers.losses import LossName, reconstruction_loss
from omnimask.tokenizers.quantizers import Quantizer, QuantizerConfig, QuantizerOutput, build_quantizer
from omnimask.tokenizers.vit import ViTConfig, ViTDecoder, ViTEncoder


class VQModel(nn.Module):
    """Encoder half of every omnimask tokenizer: ``[cls_emb] → encoder → quant_proj → quantize``.

    Subclasses assign ``encoder`` (any module mapping (B, C, ...) to (B, D, ...)), ``quant_proj`` and
    ``quantize`` in their constructor after calling ``super().__init__``, or call
    :meth:`init_vit_half` for the ViT encoder of the image tokenizers.
    """

    encoder: nn.Module
    quant_proj: nn.Module
    quantize: Quantizer
    decode_tokens: Callable[..., torch.Tensor]  # defined by each subclass: ids → its decoded output

    def __init__(self) -> None:
        super().__init__()
        self.num_labels: int | None = None
        self.cls_emb: nn.Embedding | None = None

    def init_vit_half(self, cfg: ViTHalfConfig) -> None:
        """Build ``cls_emb`` (segmentation), the ViT ``encoder``, ``quant_proj`` and ``quantize``."""
        self.num_labels = cfg.num_labels
        self.cls_emb = nn.Embedding(cfg.num_labels, cfg.in_channels) if cfg.num_labels else None
        self.encoder = ViTEncoder(
            in_channels=cfg.in_channels,
            patch_size=cfg.patch_size,
            image_size=cfg.image_size,
            cfg=cfg.encoder,
            patch_proj=cfg.patch_proj,
            post_mlp=cfg.post_mlp,
        )
        self.quant_proj = nn.Conv2d(cfg.encoder.dim, cfg.latent_dim, 1)
        self.quantize = build_quantizer(cfg.quantizer, cfg.latent_dim)

    def prepare_input(self, x: torch.Tensor) -> torch.Tensor:
        """Class map (B, H, W) → embedded (B, C, H, W) for segmentation tokenizers; else unchanged."""
        if self.cls_emb is None:
            return x
        assert self.num_labels is not None  # set together with cls_emb (init_vit_half)
        if x.is_floating_point() or x.ndim != 3:
            raise ValueError(
                f"a segmentation tokenizer takes an integer class map (B, H, W), got {x.dtype} {tuple(x.shape)}"
            )
        if x.numel() and (int(x.min()) < 0 or int(x.max()) >= self.num_labels):
            raise ValueError(f"class ids must lie in [0, {self.num_labels}), got [{int(x.min())}, {int(x.max())}]")
        return torch.movedim(self.cls_emb(x.long()), -1, 1)

    def latent(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-quantization latent (B, Dq, h, w) of the (prepared) input."""
        return self.quant_proj(self.encoder(self.prepare_input(x)))

    def encode(self, x: torch.Tensor) -> QuantizerOutput:
        """Quantized latents, ids and quantizer loss for the input ``x``."""
        return self.quantize(self.latent(x))

    @torch.no_grad()
    def tokenize(self, x: torch.Tensor) -> torch.Tensor:
        """Token ids (B, h, w) (or (B, Hc, h, w) with several codebooks) of the model-ready input ``x``."""
        return self.encode(x).ids

    def lookup(self, ids: torch.Tensor) -> torch.Tensor:
        """Quantized vectors (B, Dq, h, w) of token ids."""
        return self.quantize.lookup(ids)


@dataclasses.dataclass(kw_only=True)
class ViTHalfConfig:
    """The ViT encoder half shared by :class:`VQVAEConfig` and the DiVAE's config.

    Attributes:
        in_channels: encoder input channels (the class-embedding width when ``num_labels`` is set).
        num_labels: number of classes of a segmentation tokenizer (None otherwise).
        image_size: native resolution of the position tables (other sizes are interpolated).
        patch_size: pixels per token side.
        patch_proj: strided patch projection (False for feature maps already on the token grid).
        post_mlp: tanh post-MLP after the transformer blocks.
        latent_dim: width Dq of the quantized latent.
        encoder: ViT width and depth.
        quantizer: the bottleneck.
    """

    in_channels: int = 3
    num_labels: int | None = None
    image_size: int = 224
    patch_size: int = 16
    patch_proj: bool = True
    post_mlp: bool = False
    latent_dim: int = 32
    encoder: ViTConfig = dataclasses.field(default_factory=ViTConfig)
    quantizer: QuantizerConfig = dataclasses.field(default_factory=QuantizerConfig)

    @property
    def out_channels(self) -> int:
        """Decoder output channels: class logits for segmentation, the input channels otherwise."""
        return self.num_labels or self.in_channels


@dataclasses.dataclass(kw_only=True)
class VQVAEConfig(ViTHalfConfig):
    """Architecture of a :class:`SpatialVQVAE` (the released 4M ViT tokenizers by default).

    Attributes (beyond :class:`ViTHalfConfig`):
        decoder_image_size: native resolution of the decoder's table when it differs (None = same).
        decoder: ViT width and depth of the decoder.
        loss: reconstruction loss (see :mod:`omnimask.tokenizers.losses`).
    """

    decoder_image_size: int | None = None
    decoder: ViTConfig = dataclasses.field(default_factory=ViTConfig)
    loss: LossName = "mse"


@dataclasses.dataclass(frozen=True)
class VQVAEOutput:
    """``recon`` (B, C_out, H, W), ``ids`` (B, h, w), ``quantizer_loss`` (scalar)."""

    recon: torch.Tensor
    ids: torch.Tensor
    quantizer_loss: torch.Tensor


class SpatialVQVAE(VQModel):
    """ViT VQ-VAE for one image-like modality or feature map (see module docstring)."""

    def __init__(self, cfg: VQVAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.init_vit_half(cfg)
        self.post_quant_proj = nn.Conv2d(cfg.latent_dim, cfg.decoder.dim, 1)
        self.decoder = ViTDecoder(
            out_channels=cfg.out_channels,
            patch_size=cfg.patch_size,
            image_size=cfg.decoder_image_size or cfg.image_size,
            cfg=cfg.decoder,
            patch_proj=cfg.patch_proj,
            post_mlp=cfg.post_mlp,
        )

    def decode_quant(self, quant: torch.Tensor) -> torch.Tensor:
        """Quantized latents (B, Dq, h, w) → reconstruction (B, C_out, h·p, w·p)."""
        return self.decoder(self.post_quant_proj(quant))

    def decode_tokens(self, ids: torch.Tensor) -> torch.Tensor:
        """Token ids (B, h, w) → reconstruction (B, C_out, h·p, w·p)."""
        return self.decode_quant(self.lookup(ids))

    def forward(self, x: torch.Tensor) -> VQVAEOutput:
        """Autoencode ``x`` (B, C, H, W) or a class map (B, H, W)."""
        q = self.encode(x)
        return VQVAEOutput(recon=self.decode_quant(q.quantized), ids=q.ids, quantizer_loss=q.loss)

    def training_loss(
        self, x: torch.Tensor, target: torch.Tensor | None = None, valid: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Loss of one batch: reconstruction (``cfg.loss``, against ``target`` or ``x``) + quantizer loss.

        Args:
            x: model-ready input (B, C, H, W), or a class map (B, H, W) for segmentation.
            target: reconstruction target (default: ``x``).
            valid: (B, H, W) bool, True = the pixel counts (e.g. depth pixels with a surface).

        Returns:
            ``loss`` (to minimise), ``recon_loss``, ``quantizer_loss`` (scalars) and ``ids``.
        """
        out = self(x)
        recon = reconstruction_loss(self.cfg.loss, out.recon, x if target is None else target, valid)
        return {
            "loss": recon + out.quantizer_loss,
            "recon_loss": recon,
            "quantizer_loss": out.quantizer_loss,
            "ids": out.ids,
        }
