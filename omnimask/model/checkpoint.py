"""Saving and loading FourM checkpoints in the model-hub layout: ``model.safetensors`` + ``config.json``.

The resolved :class:`ModelConfig` is written both as ``config.json`` and into the safetensors header
(``__metadata__["omnimask_config"]``, JSON), so the weights file alone also rebuilds the model.
Writes go to a temporary name and are renamed into place; loading is strict (every key must match).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from omnimask.config import from_dict, save_config, to_dict
from omnimask.model.config import ModelConfig
from omnimask.model.fourm import FourM

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
METADATA_KEY = "omnimask_config"


def save_pretrained(model: FourM, directory: str | Path) -> Path:
    """Write ``directory/model.safetensors`` and ``directory/config.json``; returns the directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    metadata = {"format": "pt", METADATA_KEY: json.dumps(to_dict(model.config))}
    tmp = directory / (WEIGHTS_NAME + ".tmp")
    save_file(state, str(tmp), metadata=metadata)
    tmp.replace(directory / WEIGHTS_NAME)
    save_config(model.config, directory / CONFIG_NAME)
    return directory


def load_pretrained(path: str | Path, map_location: str | torch.device = "cpu") -> FourM:
    """Rebuild a FourM from a directory written by :func:`save_pretrained` or its weights file."""
    path = Path(path)
    weights = path / WEIGHTS_NAME if path.is_dir() else path
    if not weights.is_file():
        raise FileNotFoundError(f"no {WEIGHTS_NAME} at {path}; expected a directory from save_pretrained")
    config_file = weights.parent / CONFIG_NAME
    with safe_open(str(weights), framework="pt", device="cpu") as f:
        meta = f.metadata() or {}
        state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    if path.is_dir() and config_file.is_file():
        raw = json.loads(config_file.read_text())
    elif METADATA_KEY in meta:
        raw = json.loads(meta[METADATA_KEY])
    else:
        raise ValueError(
            f"{weights} carries no omnimask config (no {CONFIG_NAME} beside it, no '{METADATA_KEY}' metadata); "
            "for released 4M checkpoints use omnimask.compat.load_fm"
        )
    model = FourM(from_dict(ModelConfig, raw))
    model.load_state_dict(state, strict=True)
    return model.to(map_location)
