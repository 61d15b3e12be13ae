"""Scaling the one training loop out with ``torch.distributed``: process groups, DDP / FSDP2, gathers.

4M was trained data-parallel on 64–128 GPUs; omnimask runs the same loop under ``torchrun`` on NCCL
(GPUs) or gloo (CPUs). Parallelism is applied from outside the model: :func:`parallelize` takes a
plain :class:`~omnimask.model.FourM` and returns it wrapped with

* ``"ddp"``: :class:`~torch.nn.parallel.DistributedDataParallel` (gradients averaged over ranks);
* ``"fsdp"``: FSDP2 ``fully_shard`` on every transformer block and then the root (parameters,
  gradients and optimizer state sharded; optional bf16 parameters, fp32 reductions, CPU offload);

optionally with activation checkpointing and ``torch.compile`` per block. Every rank averages the
mean loss of its own micro-batches, exactly as 4M did, so a run on W ranks with ``grad_accum`` A
equals a single-process run whose ``grad_accum`` is W·A (same blocks of samples, see
:class:`omnimask.data.stream.RankBlockSampler`).

The state-dict helpers gather a sharded model and optimizer into the single-process layout
(optimizer state keyed by parameter index, as ``optimizer.state_dict()`` writes it) and load that
layout back into any world size, so checkpoints move freely between 1, 2 or N processes.

This is the only module of omnimask that names ``cuda`` and ``nccl``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import inspect
import os
import socket
import tempfile
from collections.abc import Iterator
from typing import Any, cast

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.checkpoint import checkpoint

from omnimask.config import ConfigError
from omnimask.devices import use_device
from omnimask.nn.blocks import DecoderBlock, EncoderBlock
from omnimask.training.config import ParallelConfig

#: Module types that become their own FSDP unit and activation-checkpointing region.
BLOCK_TYPES: tuple[type[nn.Module], ...] = (EncoderBlock, DecoderBlock)

DTYPES = {"fp32": None, "bf16": torch.bfloat16}


def rank_seed(seed: int, rank: int, step: int) -> int:
    """A seed for this rank's torch RNG at ``step``: distinct per rank, the same when a run resumes."""
    return int(np.random.SeedSequence([seed, rank, step]).generate_state(1, np.uint64)[0] >> 1)


def env_rank() -> int:
    """This process's global rank as ``torchrun`` announces it (0 outside a launcher); no torch needed."""
    return int(os.environ.get("RANK", "0"))


@dataclasses.dataclass(frozen=True)
class DistContext:
    """Where this process stands: its rank, the world size, its device and the strategy in use."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = dataclasses.field(default_factory=lambda: torch.device("cpu"))
    strategy: str = "none"
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return dist.is_available() and dist.is_initialized()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: Device types with torch's fused AdamW kernel (:func:`omnimask.training.optim.kernel`).
FUSED_OPTIMIZER_DEVICES: tuple[str, ...] = ("cpu", "cuda")


def _backend(cfg: ParallelConfig, device: torch.device) -> str:
    if cfg.backend != "auto":
        return cfg.backend
    return "nccl" if device.type == "cuda" else "gloo"


def _device(requested: str | torch.device | None, local_rank: int) -> torch.device:
    device = use_device(requested)
    if device.type == "cuda":
        if device.index is None:
            device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    return device


def setup(cfg: ParallelConfig, device: str | torch.device | None = None) -> DistContext:
    """Join (or start) the process group this run needs and pick this rank's device.

    Under ``torchrun`` the environment gives rank and world size; a GPU device without an index
    becomes ``cuda:LOCAL_RANK``. A single process asked for ``ddp`` / ``fsdp`` starts a one-rank
    group on localhost, so FSDP2 also runs on one device. Returns the context; :func:`teardown`
    leaves the group again if this call created it.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = _device(device, local_rank)
    if cfg.strategy == "none" and world > 1:
        raise ConfigError(f"parallel.strategy=none but {world} processes were launched; use ddp, fsdp or auto")
    wanted = world > 1 or cfg.strategy in ("ddp", "fsdp")
    owns = False
    if wanted and not dist.is_initialized():
        backend = _backend(cfg, dev)
        timeout = datetime.timedelta(seconds=cfg.timeout_s)
        if "RANK" in os.environ:
            dist.init_process_group(backend, timeout=timeout, device_id=dev if dev.type == "cuda" else None)
        else:
            dist.init_process_group(
                backend, init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0, world_size=1, timeout=timeout
            )
        owns = True
    if dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
    else:
        rank, world = 0, 1
    strategy = cfg.strategy if cfg.strategy != "auto" else ("ddp" if world > 1 else "none")
    return DistContext(rank, world, local_rank, dev, strategy, owns)


def teardown(ctx: DistContext) -> None:
    """Leave the process group if :func:`setup` created it."""
    if ctx.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def _checkpointed(block: nn.Module) -> None:
    """Recompute ``block``'s activations in backward instead of storing them (training only)."""
    forward = block.forward

    def run(*args: Any, **kwargs: Any) -> Any:
        if block.training and torch.is_grad_enabled():
            return checkpoint(forward, *args, use_reentrant=False, **kwargs)
        return forward(*args, **kwargs)

    block.forward = run


def blocks(model: nn.Module) -> list[nn.Module]:
    """The transformer blocks of ``model`` in module order (the units of sharding and recomputation)."""
    return [m for m in model.modules() if isinstance(m, BLOCK_TYPES)]


def parallelize(model: nn.Module, cfg: ParallelConfig, ctx: DistContext | None = None) -> nn.Module:
    """Apply activation checkpointing, ``torch.compile`` and DDP / FSDP2 to ``model`` (in that order).

    ``model`` must already sit on this rank's device. ``strategy="none"`` returns ``model`` itself
    (with checkpointing / compile applied when asked), so single-process runs are untouched.
    """
    ctx = ctx or context_of_group(model)
    for block in blocks(model):
        if cfg.activation_checkpointing:
            _checkpointed(block)
        if cfg.compile:
            block.compile(dynamic=True)
    if cfg.compile and ctx.world_size > 1 and ctx.device.type == "cpu":
        # Ranks on one host compile the same C++ kernels into one cache and can read each other's
        # half-written libraries; give each rank its own cache unless the user chose one.
        os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", f"{tempfile.gettempdir()}/torchinductor_rank{ctx.rank}")
    if ctx.strategy == "ddp":
        device_ids = [ctx.device.index] if ctx.device.type == "cuda" else None
        # Buffers are constant position tables: no per-step broadcast (the keyword changed in torch 2.13).
        sync = inspect.signature(nn.parallel.DistributedDataParallel).parameters
        no_sync: dict[str, Any]  # the one keyword this torch version has
        no_sync = {"forward_sync_buffers": False} if "forward_sync_buffers" in sync else {"broadcast_buffers": False}
        return nn.parallel.DistributedDataParallel(
            LossOnly(model), device_ids=device_ids, find_unused_parameters=cfg.find_unused_parameters, **no_sync
        )
    if ctx.strategy == "fsdp":
        if cfg.cpu_offload and ctx.device.type == "cpu":
            raise ConfigError("parallel.cpu_offload moves FSDP shards from a GPU to host memory; on a CPU run they "
                              "are there already: leave it off")
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import CPUOffloadPolicy, MixedPrecisionPolicy, OffloadPolicy, fully_shard

        mesh = init_device_mesh(ctx.device.type, (ctx.world_size,))
        options: dict[str, Any] = {
            "mesh": mesh,
            "reshard_after_forward": cfg.reshard_after_forward,
            "mp_policy": MixedPrecisionPolicy(
                param_dtype=DTYPES[cfg.param_dtype], reduce_dtype=DTYPES[cfg.reduce_dtype]
            ),
            "offload_policy": CPUOffloadPolicy() if cfg.cpu_offload else OffloadPolicy(),
        }
        if DTYPES[cfg.param_dtype] is not None:  # FSDP casts parameters, not buffers (norm biases, position tables)
            for module in model.modules():
                for name, buffer in module.named_buffers(recurse=False):
                    if buffer.is_floating_point():
                        setattr(module, name, buffer.to(DTYPES[cfg.param_dtype]))
        for block in blocks(model):
            fully_shard(block, **options)
        root = fully_shard(model, **options)  # ``model`` itself, now an FSDPModule
        # A head without targets on one rank still joins the reduce-scatter (with zeros), as DDP's
        # find_unused_parameters lets it join the all-reduce; otherwise the collectives mismatch.
        if hasattr(root, "set_reduce_scatter_unused_params"):  # torch >= 2.13
            root.set_reduce_scatter_unused_params(cfg.find_unused_parameters)
    return model


def _detached(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, dict):
        return {k: _detached(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_detached(v) for v in value)
    return value


class LossOnly(nn.Module):
    """Shows DDP the graph of the output's ``loss`` alone (every other tensor of it is detached).

    DDP's unused-parameter search walks the graph of every tensor in the output. A per-modality loss
    that the total leaves out (a modality with no targets in this micro-batch) would mark its head as
    used although backward never reaches it, and the ranks' all-reduces would fall out of step.
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        out = self.module(*args, **kwargs)
        fields = {f.name: _detached(getattr(out, f.name)) for f in dataclasses.fields(out) if f.name != "loss"}
        return dataclasses.replace(out, **fields)


def context_of_group(model: nn.Module | None = None) -> DistContext:
    """The context implied by the current process group (``auto`` = DDP when there are several ranks)."""
    device = next(model.parameters()).device if model is not None else torch.device("cpu")
    if not dist.is_initialized():
        return DistContext(device=device)
    rank, world = dist.get_rank(), dist.get_world_size()
    return DistContext(rank, world, int(os.environ.get("LOCAL_RANK", "0")), device, "ddp" if world > 1 else "none")


def unwrap(model: nn.Module) -> nn.Module:
    """The user's module inside the DDP wrappers (FSDP2 shards in place, so it is the module itself)."""
    while isinstance(model, (nn.parallel.DistributedDataParallel, LossOnly)):
        model = model.module
    return model


def is_fsdp(model: nn.Module) -> bool:
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)


@contextlib.contextmanager
def gradient_sync(model: nn.Module, enabled: bool) -> Iterator[None]:
    """Reduce gradients over ranks only when ``enabled`` (the last micro-batch of an accumulation)."""
    if isinstance(model, nn.parallel.DistributedDataParallel) and not enabled:
        with model.no_sync():
            yield
    elif is_fsdp(model):
        model.set_requires_gradient_sync(enabled)  # type: ignore[operator]
        yield
    else:
        yield


def clip_grad_norm(model: nn.Module, max_norm: float) -> float:
    """Clip the global gradient norm (over all shards and ranks) to ``max_norm``; return the norm before."""
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    full = getattr(norm, "full_tensor", None)  # FSDP2: a DTensor holding the global norm
    return float(full() if full is not None else norm)


def all_reduce(values: torch.Tensor, op: str = "mean") -> torch.Tensor:
    """Sum or mean of a float tensor over ranks (``values`` itself when not distributed)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return values
    out = values.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / dist.get_world_size() if op == "mean" else out


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


@contextlib.contextmanager
def main_process_first(ctx: DistContext) -> Iterator[None]:
    """Rank 0 runs the body first (e.g. writes a data cache); the others follow once it is done."""
    if not ctx.is_main:
        barrier()
    yield
    if ctx.is_main:
        barrier()


# -- state dicts in the single-process layout --------------------------------------------------
def _full_options(**kwargs: Any):
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, **kwargs)


def full_model_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Unsharded CPU weights of ``model`` (collective under FSDP: every rank calls; rank 0 gets them)."""
    if is_fsdp(model):
        from torch.distributed.checkpoint.state_dict import get_model_state_dict

        # A full model state dict holds tensors only (no omnimask module has extra state).
        return cast(dict[str, torch.Tensor], get_model_state_dict(model, options=_full_options(cpu_offload=True)))
    return {k: v.detach().cpu() for k, v in unwrap(model).state_dict().items()}


def load_model_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load full (unsharded) weights into ``model``, sharding them when it is an FSDP module (strict)."""
    if is_fsdp(model):
        from torch.distributed.checkpoint.state_dict import set_model_state_dict

        # The torch annotation is an invariant dict[str, ValueType]; a dict of tensors is one.
        set_model_state_dict(model, state, options=_full_options(strict=True))  # type: ignore[arg-type]
    else:
        unwrap(model).load_state_dict(state, strict=True)


def _param_names(model: nn.Module, optimizer: torch.optim.Optimizer) -> list[str]:
    """Parameter names in the optimizer's order (the index order of ``optimizer.state_dict()``)."""
    names = {id(p): n for n, p in unwrap(model).named_parameters()}
    return [names[id(p)] for group in optimizer.param_groups for p in group["params"]]


def full_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """The optimizer state as a single process would save it (collective under FSDP; rank 0 gets it)."""
    if not is_fsdp(model):
        return optimizer.state_dict()
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    # {"state": {name: {key: value}}, "param_groups": [{..., "params": [name, ...]}]}
    by_name: dict[str, Any] = get_optimizer_state_dict(model, optimizer, options=_full_options(cpu_offload=True))
    if not by_name:  # ranks other than 0 receive nothing
        return {}
    index = {name: i for i, name in enumerate(_param_names(model, optimizer))}
    groups = [{**g, "params": [index[n] for n in g["params"]]} for g in by_name["param_groups"]]
    return {"state": {index[n]: s for n, s in by_name["state"].items()}, "param_groups": groups}


def load_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Load an optimizer state in the single-process layout into any world size."""
    if not is_fsdp(model):
        optimizer.load_state_dict(state)
        return
    from torch.distributed.checkpoint.state_dict import OptimizerStateType, set_optimizer_state_dict

    names = _param_names(model, optimizer)
    groups = [{**g, "params": [names[i] for i in g["params"]]} for g in state["param_groups"]]
    by_name: OptimizerStateType = {"state": {names[i]: s for i, s in state["state"].items()}, "param_groups": groups}
    set_optimizer_state_dict(model, optimizer, by_name, options=_full_options())
