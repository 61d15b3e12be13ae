"""Noise schedules of the diffusion decoder (4M's DiVAE): betas, zero terminal SNR, training targets.

A schedule is the table ᾱ_t (``alphas_cumprod``, t = 0 … T−1) of the forward process
x_t = √ᾱ_t·x_0 + √(1−ᾱ_t)·ε. The released 4M tokenizers build it from:

* ``linear``: β = linspace(1e-4, 0.02, T) (float32);
* ``scaled_linear``: β = linspace(√1e-4, √0.02, T)²;
* ``squaredcos_cap_v2``: β_i = min(1 − ā((i+1)/T)/ā(i/T), 0.999), ā(s) = cos²((s+0.008)/1.008·π/2);
* ``shifted_cosine:<s>``: ᾱ = sigmoid(clamp(−2(log tan(πu/2) + log s), ±15)), u = linspace(0, 1, T),
  last entry 0 (a cosine schedule shifted by s in log-SNR);

optionally rescaled to **zero terminal SNR** (Lin et al. 2024): with a = √ᾱ, a' = (a − a_T)·a_0/(a_0 − a_T),
α_i = a'_i²/a'_{i−1}², β = 1 − α, and ᾱ recomputed as cumprod(1 − β) in float32 (so ᾱ_{T−1} = 0 exactly).
These are the reference's formulas and operation order (fixture README §9.2); recomputing them
reproduces the stored fixture table to ≤ 4e-7.

We write these few lines instead of depending on ``diffusers``: the released tokenizers were trained
with 4M's own modified copy of the diffusers schedulers (zero-terminal-SNR switch, shifted cosine,
integer-ratio ``trailing`` spacing), which the diffusers releases do not reproduce exactly, and it
keeps the core dependencies small.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import torch

PredictionType = Literal["epsilon", "sample", "v_prediction"]
PREDICTION_TYPES: tuple[str, ...] = ("epsilon", "sample", "v_prediction")


def betas_for(schedule: str, num_train_timesteps: int) -> torch.Tensor:
    """β (T,) float32 of a named schedule (``linear``, ``scaled_linear``, ``squaredcos_cap_v2``)."""
    t = num_train_timesteps
    if schedule == "linear":
        return torch.linspace(1e-4, 0.02, t, dtype=torch.float32)
    if schedule == "scaled_linear":
        return torch.linspace(1e-4**0.5, 0.02**0.5, t, dtype=torch.float32) ** 2
    if schedule == "squaredcos_cap_v2":

        def abar(s: float) -> float:
            return math.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2

        betas = [min(1 - abar((i + 1) / t) / abar(i / t), 0.999) for i in range(t)]
        return torch.tensor(betas, dtype=torch.float32)
    raise ValueError(
        f"unknown beta schedule {schedule!r}; use linear, scaled_linear, squaredcos_cap_v2 or shifted_cosine:<shift>"
    )


def rescale_zero_terminal_snr(betas: torch.Tensor) -> torch.Tensor:
    """Betas (T,) rescaled so that ᾱ_{T−1} = 0 while ᾱ_0 is unchanged (float32)."""
    a = (1 - betas).cumprod(0).sqrt()
    a0, a_last = a[0].clone(), a[-1].clone()
    a = (a - a_last) * (a0 / (a0 - a_last))
    abar = a**2
    alphas = torch.cat([abar[:1], abar[1:] / abar[:-1]])
    return 1 - alphas


def shifted_cosine_alphas_cumprod(num_train_timesteps: int, shift: float) -> torch.Tensor:
    """ᾱ (T,) of a cosine schedule shifted by ``shift`` in log-SNR (1 = plain cosine); ᾱ_{T−1} = 0."""
    u = torch.linspace(0, 1, num_train_timesteps).to(torch.float64)
    log_snr = -2 * (torch.tan(torch.pi * u / 2).log() + math.log(shift))
    abar = log_snr.clamp(-15, 15).float().sigmoid()
    abar[-1] = 0.0
    return abar


@dataclasses.dataclass(frozen=True)
class NoiseSchedule:
    """The forward process of a diffusion model: ᾱ_t plus what training and sampling need from it.

    Attributes:
        alphas_cumprod: ᾱ (T,) float32.
        prediction_type: what the denoiser predicts: ``epsilon`` (ε), ``sample`` (x_0) or
            ``v_prediction`` (v = √ᾱ·ε − √(1−ᾱ)·x_0).
    """

    alphas_cumprod: torch.Tensor
    prediction_type: PredictionType = "v_prediction"

    def __post_init__(self) -> None:
        if self.prediction_type not in PREDICTION_TYPES:
            raise ValueError(f"prediction_type must be one of {PREDICTION_TYPES}, got {self.prediction_type!r}")

    @classmethod
    def create(
        cls,
        beta_schedule: str = "squaredcos_cap_v2",
        *,
        num_train_timesteps: int = 1000,
        zero_terminal_snr: bool = True,
        prediction_type: PredictionType = "v_prediction",
    ) -> NoiseSchedule:
        """The schedule a DiVAE config names (``beta_schedule``, ``zero_terminal_snr``, ...)."""
        if beta_schedule.startswith("shifted_cosine:"):
            abar = shifted_cosine_alphas_cumprod(num_train_timesteps, float(beta_schedule.split(":", 1)[1]))
        else:
            betas = betas_for(beta_schedule, num_train_timesteps)
            if zero_terminal_snr:
                betas = rescale_zero_terminal_snr(betas)
            abar = torch.cumprod(1.0 - betas, dim=0)
        if prediction_type == "epsilon" and float(abar[-1]) == 0.0:
            raise ValueError("epsilon prediction cannot recover x_0 at zero terminal SNR; use v_prediction or sample")
        return cls(alphas_cumprod=abar, prediction_type=prediction_type)

    @property
    def num_train_timesteps(self) -> int:
        return int(self.alphas_cumprod.shape[0])

    def _coefs(self, t: torch.Tensor, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """√ᾱ_t and √(1−ᾱ_t) for timesteps t (B,), shaped to broadcast against ``like`` (B, ...)."""
        abar = self.alphas_cumprod.to(device=like.device, dtype=like.dtype)[t.to(like.device)]
        shape = (-1,) + (1,) * (like.ndim - 1)
        return abar.sqrt().reshape(shape), (1 - abar).sqrt().reshape(shape)

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x_t = √ᾱ_t·x_0 + √(1−ᾱ_t)·ε for x0, noise (B, ...) and integer timesteps t (B,)."""
        a, s = self._coefs(t, x0)
        return a * x0 + s * noise

    def target(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """What the denoiser should output at (x_t, t) under :attr:`prediction_type`; shape of x0."""
        if self.prediction_type == "epsilon":
            return noise
        if self.prediction_type == "sample":
            return x0
        a, s = self._coefs(t, x0)
        return a * noise - s * x0

    def predict_x0_eps(
        self, model_output: torch.Tensor, x_t: torch.Tensor, t: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(x̂_0, ε̂) from the denoiser's output at one timestep t (same for the whole batch)."""
        abar = self.alphas_cumprod[t].to(x_t.device)
        beta = 1 - abar
        if self.prediction_type == "epsilon":
            return (x_t - beta**0.5 * model_output) / abar**0.5, model_output
        if self.prediction_type == "sample":
            return model_output, (x_t - abar**0.5 * model_output) / beta**0.5
        return abar**0.5 * x_t - beta**0.5 * model_output, abar**0.5 * model_output + beta**0.5 * x_t
