"""Training checkpoints: weights a model hub understands plus the state that resumes a run exactly.

A checkpoint directory holds

* ``model.safetensors`` + ``config.json`` — the model as :func:`omnimask.model.save_pretrained` writes
  it, so a checkpoint directory loads directly with ``FourM.from_pretrained`` / ``omnimask generate``;
* ``train_config.json`` — the resolved configuration of the whole run;
* ``tokenizers/`` — the run's tokenizer bundle (:mod:`omnimask.tokenizers.bundle`), when it has one;
* ``train_state.pt`` — optimizer, scheduler, step, samples consumed and RNG states; loadable with
  ``torch.load(weights_only=True)``, so opening an untrusted checkpoint runs no code.

A distributed run writes the same layout (rank 0, from states gathered over the ranks; see
:mod:`omnimask.training.distributed`), so a checkpoint resumes in any world size.

Every file is written to a temporary name and renamed into place, and the directory itself is
assembled under a temporary name, so an interrupted save never leaves a half-written checkpoint.
"""

from __future__ import annotations

import dataclasses
import pickle
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from omnimask.config import ConfigError, save_config
from omnimask.files import RUN_CONFIG_NAME, STATE_NAME, TOKENIZERS_DIR, WEIGHTS_NAME, atomic_dir
from omnimask.model import FourM, save_pretrained
from omnimask.model.heads import TaskModel


@dataclasses.dataclass
class TrainState:
    """Counters that, with the optimizer and scheduler, define where a run stands."""

    step: int = 0
    samples_seen: int = 0
    tokens_seen: int = 0
    skipped_steps: int = 0


@dataclasses.dataclass(frozen=True)
class WeightsView:
    """A model's configuration with a given (e.g. gathered) state dict, for :func:`save_pretrained`."""

    config: Any
    weights: dict[str, torch.Tensor]
    lora_scaling: float | None = None

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.weights


def save_checkpoint(
    directory: str | Path,
    model: FourM | TaskModel,
    config: Any,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    state: TrainState | None = None,
    tokenizers: Path | None = None,
    *,
    weights: dict[str, torch.Tensor] | None = None,
    optimizer_state: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint directory atomically and return its path (``tokenizers``: a bundle to copy in).

    ``weights`` / ``optimizer_state`` replace ``model.state_dict()`` / ``optimizer.state_dict()`` when
    given (a sharded run passes the gathered, single-process-layout states).
    """
    directory = Path(directory)
    with atomic_dir(directory) as tmp:
        view = WeightsView(model.config, weights, getattr(model, "lora_scaling", None)) if weights is not None else None
        save_pretrained(model if view is None else view, tmp)  # type: ignore[arg-type]
        save_config(config, tmp / RUN_CONFIG_NAME)
        if tokenizers is not None:
            shutil.copytree(tokenizers, tmp / TOKENIZERS_DIR)
        if optimizer is not None:
            payload = {
                "optimizer": optimizer_state if optimizer_state is not None else optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "state": dataclasses.asdict(state or TrainState()),
                "rng": {"torch": torch.get_rng_state(), "python": random.getstate()},
            }
            torch.save(payload, tmp / STATE_NAME)
    return directory


def read_weights(directory: str | Path) -> dict[str, torch.Tensor]:
    """The full state dict in ``model.safetensors`` of a checkpoint directory."""
    path = Path(directory) / WEIGHTS_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no {WEIGHTS_NAME} in {directory}: is this an omnimask checkpoint directory?")
    return load_file(str(path))


def load_training_state(
    directory: str | Path,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    load_optimizer: Callable[[dict[str, Any]], None] | None = None,
) -> TrainState:
    """Restore optimizer, scheduler and RNG states; return the counters.

    ``load_optimizer`` loads the saved optimizer state instead of ``optimizer.load_state_dict`` (a
    sharded run re-shards it).
    """
    path = Path(directory) / STATE_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no {STATE_NAME} in {directory}: it holds weights only and cannot be resumed")
    try:
        payload = torch.load(path, weights_only=True)  # plain tensors and numbers only: a pickle never runs code
    except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
        raise ConfigError(f"{path} is not a readable training state (refused: {' '.join(str(err).split())[:200]}); "
                          "resume from an intact checkpoint or start the run again") from None
    (load_optimizer or optimizer.load_state_dict)(payload["optimizer"])
    if scheduler is not None and payload["scheduler"] is not None:
        scheduler.load_state_dict(payload["scheduler"])
    torch.set_rng_state(payload["rng"]["torch"])
    random.setstate(_as_python_state(payload["rng"]["python"]))
    return TrainState(**payload["state"])


def _as_python_state(state: Any) -> Any:
    """``random.setstate`` wants tuples; a round trip may hand back lists."""
    if isinstance(state, list):
        return tuple(_as_python_state(s) for s in state)
    return state
