"""The configuration tree of a training run (``omnimask train --recipe NAME --set key=value``).

:class:`TrainConfig` gathers the model, data, masking and optimizer sections plus the loop's own
settings. Named runs are functions in :mod:`omnimask.recipes` returning one of these.
"""

from __future__ import annotations

import dataclasses
import math

from omnimask.config import ConfigError
from omnimask.data.config import DataConfig
from omnimask.masking import MaskingConfig
from omnimask.model import ModelConfig
from omnimask.training.optim import OptimConfig

PRECISIONS = ("fp32", "bf16")


@dataclasses.dataclass(kw_only=True)
class TrainConfig:
    """One training run.

    The budget is ``steps`` optimizer steps, or — when ``tokens`` > 0 — as many steps as it takes to
    feed that many input + target tokens at the configured budgets (4M counts its 500B-token runs so).
    """

    recipe: str = ""
    out_dir: str = "runs/default"
    seed: int = 0
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    masking: MaskingConfig = dataclasses.field(default_factory=MaskingConfig)
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    batch_size: int = 32
    grad_accum: int = 1
    steps: int = 1000
    tokens: int = 0
    precision: str = "bf16"
    log_every: int = 10
    eval_every: int = 200
    eval_batches: int = 4
    save_every: int = 500
    max_bad_steps: int = 5
    tensorboard: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision: {self.precision!r} is not one of {list(PRECISIONS)}")
        for name in ("batch_size", "grad_accum", "log_every", "max_bad_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.steps < 1 and self.tokens <= 0:
            raise ConfigError("give a budget: steps >= 1 or tokens > 0")

    def total_steps(self, tokens_per_sample: int) -> int:
        """Optimizer steps of the run (from ``tokens`` when set, else ``steps``)."""
        if self.tokens > 0:
            per_step = tokens_per_sample * self.batch_size * self.grad_accum
            return max(1, math.ceil(self.tokens / per_step))
        return self.steps
