"""DDIM sampling in few steps for the diffusion decoder (how 4M decodes DiVAE tokens).

One step at timestep t toward the next timestep t' of the plan (deterministic for eta = 0):
x̂_0, ε̂ from the denoiser output (see :meth:`NoiseSchedule.predict_x0_eps`), x̂_0 optionally
thresholded, then x_{t'} = √ᾱ_{t'}·x̂_0 + √(1−ᾱ_{t'}−σ²)·ε̂ + σ·z with ᾱ_{t'} = 1 after the last step.

Timestep plans (Lin et al. 2024, "Common diffusion noise schedules and sample steps are flawed"),
with r = T // N as in the reference scheduler:

* ``trailing``: arange(T, 0, −r) − 1 (N = 4 → [999, 749, 499, 249]); when N does not divide T this
  yields more than N steps (N = 3 → [999, 666, 333, 0]) — a quirk of the reference kept on purpose
  so released tokenizers decode exactly as they were evaluated;
* ``leading``: arange(N)·r reversed;
* ``linspace``: round(linspace(T, 1, N)) − 1.

The reference always steps from t to t − r; for ``trailing`` and ``leading`` that is the next
timestep of the plan, which is what we step to. For ``linspace`` the reference's t − r is not on
the plan; we step to the next planned timestep instead (the DDIM update as the paper defines it).

Written here rather than taken from ``diffusers`` for the reasons given in
:mod:`omnimask.tokenizers.diffusion.schedule`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import torch

from omnimask.tokenizers.diffusion.schedule import NoiseSchedule

TimestepSpacing = Literal["trailing", "leading", "linspace"]
#: denoiser(x_t (B, C, H, W), t (B,) int64) -> model output (B, C, H, W)
Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def ddim_timesteps(num_steps: int, num_train_timesteps: int, spacing: TimestepSpacing = "trailing") -> list[int]:
    """The decreasing timesteps of a DDIM plan (see module docstring)."""
    if not 1 <= num_steps <= num_train_timesteps:
        raise ValueError(f"num_steps must be in [1, {num_train_timesteps}], got {num_steps}")
    r = num_train_timesteps // num_steps
    if spacing == "trailing":
        steps = np.arange(num_train_timesteps, 0, -r) - 1
    elif spacing == "leading":
        steps = (np.arange(0, num_steps) * r)[::-1]
    elif spacing == "linspace":
        steps = np.linspace(num_train_timesteps, 1, num_steps).round().astype(np.int64) - 1
    else:
        raise ValueError(f"spacing must be trailing, leading or linspace, got {spacing!r}")
    return [int(s) for s in steps]


def dynamic_threshold(x0: torch.Tensor, ratio: float = 0.995, max_value: float = 1.0) -> torch.Tensor:
    """Imagen's dynamic thresholding of x̂_0 (B, ...): s = clamp(quantile(|x̂_0|, ratio), 1, max_value)
    per sample, x̂_0 ← clamp(x̂_0, −s, s)/s. With ``max_value`` 1 (the 4M default) this is clamp(−1, 1)."""
    flat = x0.float().reshape(x0.shape[0], -1)
    s = torch.quantile(flat.abs(), ratio, dim=1).clamp(min=1.0, max=max_value).unsqueeze(1)
    return (torch.clamp(flat, -s, s) / s).reshape(x0.shape).to(x0.dtype)


def ddim_step(
    schedule: NoiseSchedule,
    model_output: torch.Tensor,
    x_t: torch.Tensor,
    t: int,
    t_next: int | None,
    *,
    thresholding: bool = False,
    clip_sample: float | None = None,
    eta: float = 0.0,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One DDIM update from x_t (B, C, H, W) at t to t_next (None = the end, ᾱ = 1).

    Returns:
        (x_{t_next}, x̂_0), both (B, C, H, W).
    """
    x0, eps = schedule.predict_x0_eps(model_output, x_t, t)
    if thresholding:
        x0 = dynamic_threshold(x0)
    elif clip_sample is not None:
        x0 = x0.clamp(-clip_sample, clip_sample)
    abar = schedule.alphas_cumprod[t].to(x_t.device)
    abar_next = (
        schedule.alphas_cumprod[t_next].to(x_t.device) if t_next is not None else torch.tensor(1.0, device=x_t.device)
    )
    sigma = eta * (((1 - abar_next) / (1 - abar)) * (1 - abar / abar_next)) ** 0.5 if eta > 0 else 0.0
    # clamp: with eta > 0 and ᾱ_t = 0 the direction weight is 0 up to rounding, which may go negative
    direction = torch.as_tensor(1 - abar_next - sigma**2).clamp(min=0) ** 0.5
    x_next = abar_next**0.5 * x0 + direction * eps
    if eta > 0:
        noise = torch.randn(x_t.shape, generator=generator, dtype=x_t.dtype).to(x_t.device)
        x_next = x_next + sigma * noise
    return x_next, x0


def ddim_sample(
    denoiser: Denoiser,
    schedule: NoiseSchedule,
    noise: torch.Tensor,
    *,
    num_steps: int = 4,
    spacing: TimestepSpacing = "trailing",
    timesteps: Sequence[int] | None = None,
    thresholding: bool = False,
    clip_sample: float | None = None,
    eta: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Run DDIM from the starting noise (B, C, H, W) and return x̂ (B, C, H, W).

    Args:
        denoiser: maps (x_t, t) with t (B,) int64 to the model output of ``schedule.prediction_type``.
        num_steps, spacing: the plan (see :func:`ddim_timesteps`); ``timesteps`` overrides it.
        thresholding, clip_sample: how x̂_0 is limited at each step (thresholding wins).
        eta: 0 for deterministic DDIM; > 0 adds noise drawn from ``generator``.
    """
    plan = (
        list(timesteps) if timesteps is not None else ddim_timesteps(num_steps, schedule.num_train_timesteps, spacing)
    )
    x = noise
    for i, t in enumerate(plan):
        t_batch = torch.full((x.shape[0],), t, dtype=torch.int64, device=x.device)
        out = denoiser(x, t_batch)
        t_next = plan[i + 1] if i + 1 < len(plan) else None
        x, _ = ddim_step(
            schedule,
            out,
            x,
            t,
            t_next,
            thresholding=thresholding,
            clip_sample=clip_sample,
            eta=eta,
            generator=generator,
        )
    return x
