"""The configuration tree of a training run (``omnimask train --recipe NAME --set key=value``).

:class:`TrainConfig` gathers the model, data, masking and optimizer sections plus the loop's own
settings. Named runs are functions in :mod:`omnimask.recipes` returning one of these.
"""

from __future__ import annotations

import dataclasses
import math

from omnimask.config import ConfigError
from omnimask.data.config import DataConfig
from omnimask.masking import MaskingConfig, check_budgets
from omnimask.model import ModelConfig
from omnimask.model.heads import HeadConfig
from omnimask.precision import PRECISION_CHOICES, PRECISIONS
from omnimask.training.optim import OptimConfig
from omnimask.training.transfer import LoraConfig

PARALLEL_STRATEGIES = ("auto", "none", "ddp", "fsdp")
BACKENDS = ("auto", "gloo", "nccl")


@dataclasses.dataclass(kw_only=True)
class ParallelConfig:
    """How a run spreads over processes (see :mod:`omnimask.training.distributed`).

    Attributes:
        strategy: ``auto`` (DDP when launched on several ranks, else nothing), ``none``, ``ddp`` or
            ``fsdp`` (FSDP2 ``fully_shard`` per transformer block, then the root).
        backend: process-group backend; ``auto`` = NCCL on GPUs, gloo on CPUs.
        param_dtype / reduce_dtype: FSDP2 mixed precision (``fp32`` or ``bf16``): the dtype parameters
            are gathered and computed in, and the dtype gradients are reduced in.
        cpu_offload: FSDP2 keeps sharded parameters, gradients and optimizer state in CPU memory.
        reshard_after_forward: FSDP2 frees gathered parameters after forward (less memory, one more
            all-gather in backward).
        activation_checkpointing: recompute each block's activations in backward.
        compile: ``torch.compile`` each block (dynamic shapes).
        find_unused_parameters: DDP tolerates modalities absent from a batch (needed with mixtures and
            input-only modalities; turn off for a small speed-up when every modality is always used).
        timeout_s: collective timeout.
    """

    strategy: str = "auto"
    backend: str = "auto"
    param_dtype: str = "fp32"
    reduce_dtype: str = "fp32"
    cpu_offload: bool = False
    reshard_after_forward: bool = True
    activation_checkpointing: bool = False
    compile: bool = False
    find_unused_parameters: bool = True
    timeout_s: int = 1800

    def __post_init__(self) -> None:
        if self.strategy not in PARALLEL_STRATEGIES:
            raise ConfigError(f"parallel.strategy: {self.strategy!r} is not one of {list(PARALLEL_STRATEGIES)}")
        if self.backend not in BACKENDS:
            raise ConfigError(f"parallel.backend: {self.backend!r} is not one of {list(BACKENDS)}")
        for name in ("param_dtype", "reduce_dtype"):
            if getattr(self, name) not in PRECISIONS:
                raise ConfigError(f"parallel.{name}: {getattr(self, name)!r} is not one of {list(PRECISIONS)}")


#: The least value of each integer setting of the loop (0 turns evaluation / periodic saving off).
LEAST_VALUES: dict[str, int] = {
    "batch_size": 1,
    "grad_accum": 1,
    "log_every": 1,
    "max_bad_steps": 1,
    "seed": 0,
    "eval_every": 0,
    "eval_batches": 0,
    "save_every": 0,
}


@dataclasses.dataclass(kw_only=True)
class TrainConfig:
    """One training run.

    ``batch_size`` is per process and per micro-batch: a step sees ``batch_size · grad_accum ·
    world_size`` samples (the global batch the learning rate scales with).

    The budget is ``steps`` optimizer steps, or — when ``tokens`` > 0 — as many steps as it takes to
    feed that many input + target tokens at the configured budgets (4M counts its 500B-token runs so).

    Transfer (``omnimask finetune``): ``init_from`` names a pretrained model whose matching tensors
    start the run (:func:`omnimask.training.transfer.init_from`; the report is written to
    ``init_report.json``), ``freeze`` lists glob patterns of parameters kept fixed (``@loaded``: every
    parameter init_from loaded, so only what is new trains — a new modality's embeddings), ``lora`` adds
    low-rank adapters (rank > 0) and ``head`` puts a task head on the encoder (kind ``none``: the 4M
    objective itself, e.g. with a new modality).
    """

    recipe: str = ""
    out_dir: str = "runs/default"
    seed: int = 0
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    masking: MaskingConfig = dataclasses.field(default_factory=MaskingConfig)
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    parallel: ParallelConfig = dataclasses.field(default_factory=ParallelConfig)
    head: HeadConfig = dataclasses.field(default_factory=HeadConfig)
    init_from: str = ""
    freeze: list[str] = dataclasses.field(default_factory=list)
    lora: LoraConfig = dataclasses.field(default_factory=LoraConfig)
    batch_size: int = 32
    grad_accum: int = 1
    steps: int = 1000
    tokens: int = 0
    precision: str = "auto"
    log_every: int = 10
    eval_every: int = 200
    eval_batches: int = 4
    save_every: int = 500
    max_bad_steps: int = 5
    tensorboard: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        if self.precision not in PRECISION_CHOICES:
            raise ConfigError(f"precision: {self.precision!r} is not one of {list(PRECISION_CHOICES)}")
        for name, least in LEAST_VALUES.items():
            if getattr(self, name) < least:
                raise ConfigError(f"{name} must be >= {least}, got {getattr(self, name)}")
        if self.steps < 1 and self.tokens <= 0:
            raise ConfigError("give a budget: steps >= 1 or tokens > 0")
        if self.head.kind == "none":  # a task head sees whole inputs, not these budgets
            check_budgets(self.model.specs(), self.masking)

    def global_batch(self, world_size: int = 1) -> int:
        """Samples per optimizer step over all ranks."""
        return self.batch_size * self.grad_accum * world_size

    def total_steps(self, tokens_per_sample: int, world_size: int = 1) -> int:
        """Optimizer steps of the run (from ``tokens`` when set, else ``steps``)."""
        if self.tokens > 0:
            per_step = tokens_per_sample * self.global_batch(world_size)
            return max(1, math.ceil(self.tokens / per_step))
        return self.steps
