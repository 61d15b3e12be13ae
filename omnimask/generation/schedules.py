"""Per-iteration schedules of a generation step: tokens committed, temperature, guidance scale.

4M decodes an image-like target over S iterations; these functions say how many tokens each
iteration commits and with which temperature and guidance scale. The token and temperature
schedules reproduce the released implementation exactly (fixture README §8.1), including Python's
round-half-to-even in the cosine schedule and the released ``onex`` temperature curve.

* Token schedules — ``cosine`` (MaskGIT): with c_i = ½(1 + cos(π·i/S)), iteration i < S−1 commits
  round(N·(c_i − c_{i+1})) tokens and the last one the remainder; ``linear`` (ROAR): integer
  differences of ``linspace(0, N, S+1)`` sorted descending, trailing zeros removed.
* Temperature schedules — ``constant``; ``linear`` (starts at T and falls with the fraction of
  tokens already committed); ``onex:<min>:<power>`` (the released one-over-x curve from T to min).
* Guidance schedules (ours; the release only has ``constant``) — ``constant``; ``linear`` and
  ``cosine`` ramp a scalar scale from 1 (no guidance) at the first iteration to the full scale.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

TOKEN_SCHEDULES: tuple[str, ...] = ("cosine", "linear")
TEMPERATURE_SCHEDULES: tuple[str, ...] = ("constant", "linear", "onex:<min>:<power>")
GUIDANCE_SCHEDULES: tuple[str, ...] = ("constant", "linear", "cosine")
#: Floor of the released temperature schedules (they clip to avoid dividing by zero).
MIN_TEMPERATURE = 1e-9


def cosine_token_schedule(num_steps: int, total: int) -> list[int]:
    """Tokens per iteration of MaskGIT's cosine schedule (sums to ``total``; e.g. 4, 196 -> [29, 69, 69, 29])."""
    c = [0.5 * (1 + math.cos(math.pi * i / num_steps)) for i in range(num_steps)]
    counts = [round(total * (a - b)) for a, b in itertools.pairwise(c)]  # Python round: half to even
    return [*counts, total - sum(counts)]


def linear_token_schedule(num_steps: int, total: int) -> list[int]:
    """Tokens per iteration of the linear schedule, largest first, trailing zeros dropped (1 step -> [total])."""
    counts = np.diff(np.linspace(0, total, num_steps + 1, dtype=int))
    counts = np.sort(counts)[::-1]
    return [int(c) for c in np.trim_zeros(counts, "b")]


def token_schedule(schedule: str | Sequence[int], num_steps: int, total: int) -> list[int]:
    """Tokens committed per iteration: a named schedule over ``num_steps`` or explicit counts.

    Explicit counts are used as given (their sum may differ from ``total``: the sampler never
    commits more tokens than remain undecoded).
    """
    if not isinstance(schedule, str):
        counts = [int(c) for c in schedule]
        if not counts or min(counts) < 0:
            raise ValueError(f"explicit token schedule {counts} must be a non-empty list of counts >= 0")
        return counts
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    if schedule == "cosine":
        return cosine_token_schedule(num_steps, total)
    if schedule == "linear":
        return linear_token_schedule(num_steps, total)
    raise ValueError(f"unknown token schedule {schedule!r}; use one of {TOKEN_SCHEDULES} or a list of counts")


def _onex(max_t: float, min_t: float, counts: Sequence[int], power: float) -> list[float]:
    """The released one-over-x curve: y = 1/x^power on linspace(1, 100, sum(counts)), scaled to [0, 1];
    iteration i uses y[i] (the first len(counts) values, as the release does) times (1 − committed fraction)."""
    x = np.linspace(1, 100, num=int(sum(counts)))
    y = 1 / (x**power)
    y = y - y.min()
    top = y.max()
    y = y / top if top > 0 else np.ones_like(y)  # a single token: the release would divide by zero
    done = np.cumsum(counts) / np.sum(counts)
    unscaled = [(1 - d) * u for u, d in zip(y, done)]
    return [float(t) for t in np.array([min_t + (max_t - min_t) * s for s in unscaled]).clip(min=MIN_TEMPERATURE)]


def temperature_schedule(schedule: str | Sequence[float], temperature: float, counts: Sequence[int]) -> list[float]:
    """Temperature per iteration for the token ``counts`` of one target.

    Args:
        schedule: ``constant``, ``linear``, ``onex:<min>:<power>`` or explicit per-iteration values.
        temperature: the starting (maximum) temperature T.
        counts: tokens committed per iteration.
    """
    n = len(counts)
    if not isinstance(schedule, str):
        values = [float(t) for t in schedule]
        if len(values) != n:
            raise ValueError(f"explicit temperature schedule has {len(values)} values for {n} iterations")
        return values
    if schedule == "constant":
        return [float(temperature)] * n
    if schedule == "linear":
        c = np.asarray(counts, dtype=np.int64)
        rest = temperature * (c.sum() - c.cumsum()) / c.sum()
        return [float(t) for t in np.concatenate([[temperature * 1.0], rest])[:-1].clip(min=MIN_TEMPERATURE)]
    if schedule.startswith("onex"):
        parts = schedule.split(":")
        if len(parts) != 3:
            raise ValueError(f"temperature schedule {schedule!r}: write onex:<min>:<power>, e.g. onex:0.5:0.5")
        min_t, power = float(parts[1]), float(parts[2])
        return _onex(temperature, min_t, counts, power)
    raise ValueError(f"unknown temperature schedule {schedule!r}; use one of {TEMPERATURE_SCHEDULES} or a list")


def guidance_schedule(
    schedule: str | Sequence[float], scale: float | Sequence[float], num_steps: int
) -> list[float | tuple[float, ...]]:
    """Guidance scale (or weight tuple) per iteration.

    ``constant`` repeats ``scale`` (a float, or a tuple of multi-condition weights). ``linear`` and
    ``cosine`` need a float and ramp from 1 at the first iteration to ``scale`` at the last
    (weak guidance while little is decided, full guidance at the end). Explicit values are used as given.
    """
    if not isinstance(schedule, str):
        values = [float(s) for s in schedule]
        if len(values) != num_steps:
            raise ValueError(f"explicit guidance schedule has {len(values)} values for {num_steps} iterations")
        return list(values)
    if schedule == "constant":
        value = tuple(float(w) for w in scale) if isinstance(scale, Sequence) else float(scale)
        return [value] * num_steps
    if isinstance(scale, Sequence):
        raise ValueError(f"guidance schedule {schedule!r} needs a single scale, not weights {list(scale)}")
    if schedule in ("linear", "cosine"):
        fractions = [1.0 if num_steps == 1 else i / (num_steps - 1) for i in range(num_steps)]
        if schedule == "cosine":
            fractions = [0.5 * (1 - math.cos(math.pi * f)) for f in fractions]
        return [1.0 + (float(scale) - 1.0) * f for f in fractions]
    raise ValueError(f"unknown guidance schedule {schedule!r}; use one of {GUIDANCE_SCHEDULES} or a list")
