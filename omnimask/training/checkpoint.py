"""Training checkpoints: weights a model hub understands plus the state that resumes a run exactly.

A checkpoint directory holds

* ``model.safetensors`` + ``config.json`` — the model as :func:`omnimask.model.save_pretrained` writes
  it, so a checkpoint directory loads directly with ``FourM.from_pretrained`` / ``omnimask generate``;
* ``train_config.json`` — the resolved configuration of the whole run;
* ``tokenizers/`` — the run's tokenizer bundle (:mod:`omnimask.tokenizers.bundle`), when it has one;
* ``train_state.pt`` — optimizer, scheduler, step, samples consumed and RNG states; loadable with
  ``torch.load(weights_only=True)``, so opening an untrusted checkpoint runs no code.

Every file is written to a temporary name and renamed into place, and the directory itself is
assembled under a temporary name, so an interrupted save never leaves a half-written checkpoint.
"""

from __future__ import annotations

import dataclasses
import random
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from omnimask.config import save_config
from omnimask.model import FourM, save_pretrained

WEIGHTS_NAME = "model.safetensors"
RUN_CONFIG_NAME = "train_config.json"
STATE_NAME = "train_state.pt"


@dataclasses.dataclass
class TrainState:
    """Counters that, with the optimizer and scheduler, define where a run stands."""

    step: int = 0
    samples_seen: int = 0
    tokens_seen: int = 0
    skipped_steps: int = 0


def save_checkpoint(
    directory: str | Path,
    model: FourM,
    config: Any,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    state: TrainState | None = None,
    tokenizers: Path | None = None,
) -> Path:
    """Write a checkpoint directory atomically and return its path (``tokenizers``: a bundle to copy in)."""
    directory = Path(directory)
    tmp = directory.with_name(directory.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_pretrained(model, tmp)
    save_config(config, tmp / RUN_CONFIG_NAME)
    if tokenizers is not None:
        shutil.copytree(tokenizers, tmp / "tokenizers")
    if optimizer is not None:
        payload = {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "state": dataclasses.asdict(state or TrainState()),
            "rng": {"torch": torch.get_rng_state(), "python": random.getstate()},
        }
        torch.save(payload, tmp / STATE_NAME)
    old = directory.with_name(directory.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if directory.exists():
        directory.rename(old)
    tmp.rename(directory)
    shutil.rmtree(old, ignore_errors=True)
    return directory


def load_weights(directory: str | Path, model: FourM) -> FourM:
    """Load ``model.safetensors`` of a checkpoint directory into ``model`` (in place, strict)."""
    path = Path(directory) / WEIGHTS_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no {WEIGHTS_NAME} in {directory}: is this an omnimask checkpoint directory?")
    model.load_state_dict(load_file(str(path)), strict=True)
    return model


def load_training_state(
    directory: str | Path,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
) -> TrainState:
    """Restore optimizer, scheduler and RNG states; return the counters."""
    path = Path(directory) / STATE_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no {STATE_NAME} in {directory}: it holds weights only and cannot be resumed")
    payload = torch.load(path, weights_only=True)
    optimizer.load_state_dict(payload["optimizer"])
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
