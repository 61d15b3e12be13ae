"""Diffusion decoder of 4M's DiVAE tokenizers: noise schedules, DDIM sampling, the patched UNet, the model."""

from omnimask.tokenizers.diffusion.ddim import ddim_sample, ddim_step, ddim_timesteps, dynamic_threshold
from omnimask.tokenizers.diffusion.divae import DiffusionConfig, DiVAE, DiVAEConfig
from omnimask.tokenizers.diffusion.schedule import NoiseSchedule
from omnimask.tokenizers.diffusion.unet import PatchedUNet, UNetConfig

__all__ = [
    "DiVAE",
    "DiVAEConfig",
    "DiffusionConfig",
    "NoiseSchedule",
    "PatchedUNet",
    "UNetConfig",
    "ddim_sample",
    "ddim_step",
    "ddim_timesteps",
    "dynamic_threshold",
]
