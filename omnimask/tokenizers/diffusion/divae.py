"""DiVAE: a VQ tokenizer whose decoder is a diffusion model conditioned on the quantized latents.

4M uses it for the detail-rich modalities (RGB, depth, normals, ...): the ViT encoder and quantizer
are those of :class:`~omnimask.tokenizers.vqvae.SpatialVQVAE`, the decoder is a
:class:`~omnimask.tokenizers.diffusion.unet.PatchedUNet` that denoises an image given the latents.

* Training (:meth:`DiVAE.training_loss`): DDPM — draw t ~ U{0, T−1} and ε ~ N(0, I), noise the clean
  input to x_t, predict the schedule's target (ε, x_0 or v) from (x_t, t, latents) with an MSE loss,
  plus the quantizer loss. With ``cond_dropout`` > 0 the latents of a sample are dropped (all, or
  a random number of positions with ``masked_cond``) so the decoder can also run unconditionally.
* Decoding (:meth:`DiVAE.decode_quant`): DDIM from Gaussian noise in a few steps (4 by default with
  ``trailing`` timesteps), see :mod:`omnimask.tokenizers.diffusion.ddim`.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from omnimask.tokenizers.diffusion.ddim import TimestepSpacing, ddim_sample
from omnimask.tokenizers.diffusion.schedule import NoiseSchedule, PredictionType
from omnimask.tokenizers.diffusion.unet import PatchedUNet, UNetConfig
from omnimask.tokenizers.vqvae import ViTHalfConfig, VQModel


@dataclasses.dataclass(kw_only=True)
class DiffusionConfig:
    """Noise schedule, prediction target and decoding defaults of a DiVAE.

    Attributes:
        num_train_timesteps, beta_schedule, zero_terminal_snr, prediction_type: the schedule
            (:class:`~omnimask.tokenizers.diffusion.schedule.NoiseSchedule`).
        thresholding: clamp x̂_0 by dynamic thresholding while sampling; ``clip_sample`` otherwise.
        cond_dropout: probability of dropping a sample's latents in training (decoder guidance).
        masked_cond, masked_cond_low, masked_cond_high: drop a random number in [low, high] of
            latent positions instead of all of them (high None = all positions).
        decode_steps, timestep_spacing: DDIM defaults for :meth:`DiVAE.decode_quant`.
    """

    num_train_timesteps: int = 1000
    beta_schedule: str = "squaredcos_cap_v2"
    zero_terminal_snr: bool = True
    prediction_type: PredictionType = "v_prediction"
    thresholding: bool = True
    clip_sample: bool = False
    cond_dropout: float = 0.0
    masked_cond: bool = False
    masked_cond_low: int = 0
    masked_cond_high: int | None = None
    decode_steps: int = 4
    timestep_spacing: TimestepSpacing = "trailing"

    def schedule(self) -> NoiseSchedule:
        return NoiseSchedule.create(
            self.beta_schedule,
            num_train_timesteps=self.num_train_timesteps,
            zero_terminal_snr=self.zero_terminal_snr,
            prediction_type=self.prediction_type,
        )


@dataclasses.dataclass(kw_only=True)
class DiVAEConfig(ViTHalfConfig):
    """Architecture of a :class:`DiVAE`: the ViT encoder half plus the ``unet`` and ``diffusion`` settings."""

    unet: UNetConfig = dataclasses.field(default_factory=UNetConfig)
    diffusion: DiffusionConfig = dataclasses.field(default_factory=DiffusionConfig)


class DiVAE(VQModel):
    """ViT encoder + quantizer + diffusion UNet decoder (see module docstring)."""

    def __init__(self, cfg: DiVAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.init_vit_half(cfg)
        self.decoder = PatchedUNet(image_channels=cfg.out_channels, cond_channels=cfg.latent_dim, cfg=cfg.unet)
        self.schedule = cfg.diffusion.schedule()

    def denoise(
        self, noisy: torch.Tensor, t: torch.Tensor, quant: torch.Tensor, cond_keep: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Decoder output (B, C, H, W) for noisy images (B, C, H, W) at timesteps t (B,) given latents."""
        return self.decoder(noisy, t, quant, cond_keep)

    def forward(
        self, clean: torch.Tensor, noisy: torch.Tensor, t: torch.Tensor, cond_keep: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Encode ``clean`` and denoise ``noisy`` at ``t`` conditioned on its quantized latents."""
        return self.denoise(noisy, t, self.encode(clean).quantized, cond_keep)

    @torch.no_grad()
    def decode_quant(
        self,
        quant: torch.Tensor,
        *,
        num_steps: int | None = None,
        spacing: TimestepSpacing | None = None,
        image_size: tuple[int, int] | None = None,
        generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
        eta: float = 0.0,
    ) -> torch.Tensor:
        """DDIM-decode latents (B, Dq, h, w) to images (B, C, H, W).

        Args:
            num_steps, spacing: DDIM plan (defaults from the config).
            image_size: output (H, W); default (h·p, w·p) with p the encoder patch size.
            generator: draws the starting noise as one ``torch.randn((B, C, H, W))`` call on the CPU
                (so a seeded generator reproduces a decode exactly) and eta > 0 noise.
            noise: the starting noise itself (overrides ``generator`` for it).
        """
        d = self.cfg.diffusion
        b, _, h, w = quant.shape
        height, width = image_size or (h * self.cfg.patch_size, w * self.cfg.patch_size)
        if noise is None:
            noise = torch.randn((b, self.decoder.image_channels, height, width), generator=generator)
        noise = noise.to(device=quant.device, dtype=quant.dtype)
        return ddim_sample(
            lambda x, t: self.denoise(x, t, quant),
            self.schedule,
            noise,
            num_steps=num_steps or d.decode_steps,
            spacing=spacing or d.timestep_spacing,
            thresholding=d.thresholding,
            clip_sample=1.0 if d.clip_sample else None,
            eta=eta,
            generator=generator,
        )

    def decode_tokens(self, ids: torch.Tensor, **kwargs: object) -> torch.Tensor:
        """Token ids (B, h, w) → images (B, C, H, W); keyword arguments as :meth:`decode_quant`."""
        return self.decode_quant(self.lookup(ids), **kwargs)  # type: ignore[arg-type]

    def sample_cond_keep(self, b: int, grid: tuple[int, int], generator: torch.Generator) -> torch.Tensor:
        """Training-time conditioning keep-mask (B, h, w): True = latent used (see DiffusionConfig)."""
        d, n = self.cfg.diffusion, grid[0] * grid[1]
        drop = torch.rand(b, generator=generator) < d.cond_dropout  # (B,) samples whose latents are dropped
        if d.masked_cond:
            high = n if d.masked_cond_high is None else d.masked_cond_high
            n_drop = torch.randint(d.masked_cond_low, high + 1, (b,), generator=generator)
            ranks = torch.rand(b, n, generator=generator).argsort(dim=1).argsort(dim=1)
            dropped = ranks < n_drop[:, None]
        else:
            dropped = torch.ones(b, n, dtype=torch.bool)
        return ~(dropped & drop[:, None]).reshape(b, *grid)

    def training_loss(self, x: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """DDPM loss of one batch of model-ready inputs x (B, C, H, W) + the quantizer loss.

        All random draws (timesteps, noise, conditioning dropout) come from ``generator`` (CPU).
        """
        q = self.encode(x)
        b = x.shape[0]
        t = torch.randint(0, self.schedule.num_train_timesteps, (b,), generator=generator).to(x.device)
        noise = torch.randn(x.shape, generator=generator).to(x)
        cond_keep = None
        if self.cfg.diffusion.cond_dropout > 0:
            h, w = q.quantized.shape[-2:]  # latent grid of (B, D, h, w)
            cond_keep = self.sample_cond_keep(b, (h, w), generator).to(x.device)
        out = self.denoise(self.schedule.add_noise(x, noise, t), t, q.quantized, cond_keep)
        diffusion = F.mse_loss(out.float(), self.schedule.target(x, noise, t).float())
        return {"loss": diffusion + q.loss, "diffusion_loss": diffusion, "quantizer_loss": q.loss, "ids": q.ids}
