"""Saving and loading FourM checkpoints in the model-hub layout: ``model.safetensors`` + ``config.json``.

The resolved :class:`ModelConfig` is written both as ``config.json`` and into the safetensors header
(``__metadata__["omnimask_config"]``, JSON), so the weights file alone also rebuilds the model.
Writes go to a temporary name and are renamed into place; loading is strict (every key must match).

A fine-tuned :class:`~omnimask.model.heads.TaskModel` is saved the same way (its config holds
``model`` and ``head``). A model trained with LoRA adapters is saved unmerged (so a resumed run
continues exactly); its header records the adapters' scaling, and loading merges them
(:func:`merge_lora`): what comes back is a plain model whose outputs equal the adapted one's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from omnimask.config import from_dict, read_json, save_config, to_dict
from omnimask.files import CONFIG_NAME, WEIGHTS_NAME, check_shapes, open_safetensors, write_safetensors
from omnimask.model.config import ModelConfig
from omnimask.model.fourm import FourM

if TYPE_CHECKING:
    from omnimask.model.heads import TaskModel

METADATA_KEY = "omnimask_config"
#: Header field of a checkpoint saved with LoRA adapters: their scaling (alpha / rank), as a string.
LORA_KEY = "omnimask_lora_scaling"
#: Names peft gives the pieces of an adapted linear layer.
LORA_BASE, LORA_A, LORA_B = ".base_layer.", ".lora_A.default.", ".lora_B.default."


def merge_lora(state: dict[str, torch.Tensor], scaling: float) -> dict[str, torch.Tensor]:
    """A state dict with every LoRA-adapted linear merged back into a plain one: W = W0 + s · B A.

    ``P.base_layer.weight`` (out, in), ``P.lora_A.default.weight`` (r, in) and ``P.lora_B.default.weight``
    (out, r) become ``P.weight``; ``P.base_layer.bias`` becomes ``P.bias``; other keys are unchanged.
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        name = merged_name(key)
        if name is None:
            continue
        if LORA_BASE in key and key.endswith(f"{LORA_BASE}weight"):
            prefix = key.partition(LORA_BASE)[0]
            a, b = state[f"{prefix}{LORA_A}weight"], state[f"{prefix}{LORA_B}weight"]
            value = (value.float() + scaling * (b.float() @ a.float())).to(value.dtype)
        out[name] = value
    return out


def merged_name(key: str) -> str | None:
    """The plain name of a saved LoRA-layout key (``P.base_layer.weight`` → ``P.weight``; adapters: None)."""
    if LORA_A in key or LORA_B in key:
        return None
    if LORA_BASE in key:
        prefix, _, leaf = key.partition(LORA_BASE)
        return f"{prefix}.{leaf}"
    return key


def save_pretrained(model: FourM | TaskModel, directory: str | Path) -> Path:
    """Write ``directory/model.safetensors`` and ``directory/config.json``; returns the directory."""
    directory = Path(directory)
    metadata = {"format": "pt", METADATA_KEY: json.dumps(to_dict(model.config))}
    scaling = getattr(model, "lora_scaling", None)
    if scaling is not None:
        metadata[LORA_KEY] = repr(float(scaling))
    write_safetensors(directory / WEIGHTS_NAME, model.state_dict(), metadata)
    save_config(model.config, directory / CONFIG_NAME)
    return directory


def load_pretrained(path: str | Path, map_location: str | torch.device = "cpu") -> FourM | TaskModel:
    """Rebuild a FourM (or a TaskModel) from a directory written by :func:`save_pretrained` or its weights
    file; LoRA adapters are merged."""
    path = Path(path)
    weights = path / WEIGHTS_NAME if path.is_dir() else path
    if not weights.is_file():
        raise FileNotFoundError(f"no {WEIGHTS_NAME} at {path}; expected a directory from save_pretrained")
    config_file = weights.parent / CONFIG_NAME
    with open_safetensors(weights) as f:
        meta = f.metadata() or {}
        shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118 (the header only)
    if path.is_dir() and config_file.is_file():
        raw = read_json(config_file)
    elif METADATA_KEY in meta:
        raw = json.loads(meta[METADATA_KEY])
    else:
        raise ValueError(
            f"{weights} carries no omnimask config (no {CONFIG_NAME} beside it, no '{METADATA_KEY}' metadata); "
            "for released 4M checkpoints use omnimask.compat.load_fm"
        )
    build = _builder(raw)
    with torch.device("meta"):  # shapes only: a config that does not fit the weights allocates nothing
        skeleton = build()
    if LORA_KEY in meta:
        shapes = {name: shape for k, shape in shapes.items() if (name := merged_name(k)) is not None}
    check_shapes(weights, {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}, shapes)
    with open_safetensors(weights) as f:
        state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    if LORA_KEY in meta:
        state = merge_lora(state, float(meta[LORA_KEY]))
    model = build()
    model.load_state_dict(state, strict=True)
    return model.to(map_location)


def _builder(raw: dict[str, Any]) -> Callable[[], FourM | TaskModel]:
    """The constructor of the model a saved config describes (a TaskModel when it has a head)."""
    if "head" in raw:
        from omnimask.model.heads import TaskModel, TaskModelConfig

        task_cfg = from_dict(TaskModelConfig, raw)
        return lambda: TaskModel(task_cfg)
    cfg = from_dict(ModelConfig, raw)
    return lambda: FourM(cfg)
