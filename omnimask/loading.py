"""Checkpoint folders: open any checkpoint omnimask understands, load a model to run, export one to ship.

:func:`load` (``omnimask.load``) picks the right loader for a path; :func:`load_model` loads a 4M
model to generate with (default: the model shipped in the package, :func:`shipped_model_path`);
:func:`export_model` writes the small inference copy of a training checkpoint. The file names of a
folder and the atomic writes live in :mod:`omnimask.files`.

Recognised, by what the folder or file holds:

* an omnimask model — ``config.json`` holding a :class:`~omnimask.model.ModelConfig` (or a weights
  file carrying it in its header) → :func:`~omnimask.model.load_pretrained`; a fine-tuned task model
  (``config.json`` with ``model`` and ``head``) likewise;
* a released 4M model — ``domains_in`` / ``domains_out`` in ``config.json`` or the safetensors
  metadata → :func:`omnimask.compat.load_fm`;
* a tokenizer — an omnimask tokenizer card (``config.json`` with ``kind`` and ``input``) →
  :class:`~omnimask.tokenizers.ModalityTokenizer`, or a released tokenizer (``quant_type`` /
  ``enc_type`` in its config) → :func:`omnimask.compat.load_released_tokenizer`;
* a tokenizer bundle (``manifest.json``) → :func:`omnimask.tokenizers.bundle.load_tokenizers`.

Exports: a training checkpoint (``<run>/checkpoint``) holds float32 weights, the optimizer state and a
full copy of the tokenizers. :func:`export_model` keeps what inference needs: ``model.safetensors``
cast to ``dtype`` (float16 halves the size; loading casts back to the model's float32 parameters),
``config.json`` and ``tokenizers/``. Tokenizer folders byte-identical to a bundle shipped with
omnimask are referenced (``"path": "shipped:synthworld64/rgb"``) instead of copied, so the model
shipped in the package does not carry the shipped tokenizers twice.
"""

from __future__ import annotations

import filecmp
import importlib.resources
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omnimask.config import ConfigError, read_json
from omnimask.devices import use_device
from omnimask.files import (
    CONFIG_NAME,
    ENCODER_CONTRACT_NAME,
    ENCODER_NAME,
    MANIFEST_NAME,
    TOKENIZERS_DIR,
    WEIGHTS_NAME,
    atomic_path,
    open_safetensors,
    write_json,
    write_safetensors,
    write_text,
)
from omnimask.model.checkpoint import LORA_KEY, merge_lora
from omnimask.tokenizers.bundle import SHIPPED_PREFIX, shipped_bundle_path
from omnimask.tokenizers.entries import DTYPES

if TYPE_CHECKING:
    from omnimask.model import FourM

#: What :func:`detect` can find at a path.
CHECKPOINT_KINDS = ("model", "task_model", "released_model", "tokenizer", "released_tokenizer", "tokenizer_bundle")
#: The model ``omnimask demo`` / ``generate`` / ``eval`` load by default, inside the package.
SHIPPED_MODEL = "synth_small"


def shipped_model_path(name: str = SHIPPED_MODEL) -> Path:
    """Folder of a model shipped in the package (``omnimask/assets/models/NAME``); it may not exist."""
    return Path(str(importlib.resources.files("omnimask") / "assets" / "models" / name))


def is_model_folder(path: str | Path) -> bool:
    """Whether ``path`` holds a model (``model.safetensors`` and ``config.json``)."""
    path = Path(path)
    return (path / WEIGHTS_NAME).is_file() and (path / CONFIG_NAME).is_file()


def _config_of(path: Path) -> dict[str, Any]:
    """The JSON config of a folder, or the (raw string) metadata of a weights file."""
    if path.is_dir():
        if (path / MANIFEST_NAME).is_file() and not (path / CONFIG_NAME).is_file():
            return {"__bundle__": True}
        config = path / CONFIG_NAME
        return read_json(config) if config.is_file() else {}
    with open_safetensors(path) as f:
        return dict(f.metadata() or {})


def detect(path: str | Path) -> str:
    """What ``path`` holds: one of :data:`CHECKPOINT_KINDS`; an error says what was expected otherwise."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if path.is_dir() and (path / TOKENIZERS_DIR / MANIFEST_NAME).is_file() and not (path / CONFIG_NAME).is_file():
        return "tokenizer_bundle"
    config = _config_of(path)
    if "__bundle__" in config:
        return "tokenizer_bundle"
    if {"model", "head"} <= set(config):
        return "task_model"
    if "omnimask_config" in config or {"modality_set", "inputs", "outputs"} <= set(config):
        return "model"
    if "domains_in" in config:
        return "released_model"
    if {"kind", "input"} <= set(config):
        return "tokenizer"
    if "quant_type" in config or "enc_type" in config:
        return "released_tokenizer"
    raise ValueError(
        f"{path}: not a checkpoint omnimask recognises (expected an omnimask or released 4M model, a "
        "tokenizer, or a tokenizer bundle: a folder with config.json + model.safetensors or manifest.json)"
    )


def load(path: str | Path, **kwargs: Any) -> Any:
    """Load whatever ``path`` holds (see the module docstring); ``kwargs`` go to the chosen loader."""
    kind = detect(path)
    if kind in ("model", "task_model"):
        from omnimask.model import load_pretrained

        return load_pretrained(path, **kwargs)
    if kind == "released_model":
        from omnimask.compat import load_fm

        return load_fm(path, **kwargs)
    if kind == "tokenizer":
        from omnimask.tokenizers.base import ModalityTokenizer

        return ModalityTokenizer.load(path, **kwargs)
    if kind == "released_tokenizer":
        from omnimask.compat import load_released_tokenizer

        return load_released_tokenizer(path, **kwargs)
    from omnimask.tokenizers.bundle import load_tokenizers

    return load_tokenizers(path, **kwargs)


def load_model(path: str | Path | None = None, device: str = "cpu") -> FourM:
    """A 4M model to run: ours or a released one (:func:`load` tells them apart), on ``device``.

    ``path`` None loads the shipped model. Anything else than a model is a :class:`ConfigError`
    saying what the folder holds.
    """
    from omnimask.model import FourM

    path = shipped_model_path() if path is None else Path(path)
    target = use_device(device)
    if not path.exists():
        raise ConfigError(f"no model at {path}; give a model folder (model.safetensors + config.json)")
    model = load(path)
    if not isinstance(model, FourM):
        raise ConfigError(f"{path} holds a {type(model).__name__}, not a 4M model")
    return model.to(target)


def _same_tree(a: Path, b: Path) -> bool:
    """Whether folders ``a`` and ``b`` hold the same files with the same bytes."""
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    return files_a == files_b and all(filecmp.cmp(a / f, b / f, shallow=False) for f in files_a)


def _export_tokenizers(src: Path, out: Path, shipped: str | None) -> dict[str, str]:
    """Write ``out/manifest.json`` (+ copied folders); returns entry path → where it went."""
    manifest = json.loads((src / MANIFEST_NAME).read_text())
    bundle = shipped_bundle_path(shipped) if shipped else None
    where: dict[str, str] = {}
    out.mkdir(parents=True, exist_ok=True)
    for entry in manifest.values():
        rel = entry["path"]
        if rel not in where:
            if bundle is not None and (bundle / rel).is_dir() and _same_tree(src / rel, bundle / rel):
                where[rel] = f"{SHIPPED_PREFIX}{shipped}/{rel}"
            else:
                shutil.copytree(src / rel, out / rel, dirs_exist_ok=True)
                where[rel] = rel
        entry["path"] = where[rel]
    write_json(out / MANIFEST_NAME, manifest)
    return where


def export_model(checkpoint: str | Path, out: str | Path, dtype: str = "float16",
                 shipped: str | None = "synthworld64") -> Path:
    """Write the inference copy of ``checkpoint`` into ``out``.

    Args:
        checkpoint: a model folder (``model.safetensors`` + ``config.json`` [+ ``tokenizers/``]).
        out: destination folder (created; files in it are replaced).
        dtype: storage dtype of floating-point weights (``float16``, ``bfloat16`` or ``float32``).
        shipped: name of a shipped tokenizer bundle to reference where identical; None copies all.

    Returns:
        ``out``.
    """
    checkpoint, out = Path(checkpoint), Path(out)
    if dtype not in DTYPES:
        raise ValueError(f"dtype {dtype!r}: choose one of {sorted(DTYPES)}")
    weights = checkpoint / WEIGHTS_NAME
    if not weights.is_file() or not (checkpoint / CONFIG_NAME).is_file():
        raise FileNotFoundError(f"{checkpoint} is not a model folder (needs {WEIGHTS_NAME} and {CONFIG_NAME}); "
                                "give the checkpoint/ folder of a training run")
    with open_safetensors(weights) as f:
        metadata = f.metadata() or {}
        state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    if LORA_KEY in metadata:  # ship LoRA fine-tunes merged: plain weights, no peft needed to run them
        state = merge_lora(state, float(metadata.pop(LORA_KEY)))
    state = {k: v.to(DTYPES[dtype]) if v.is_floating_point() else v for k, v in state.items()}
    write_safetensors(out / WEIGHTS_NAME, state, {**metadata, "storage_dtype": dtype})
    write_text(out / CONFIG_NAME, (checkpoint / CONFIG_NAME).read_text())
    if (checkpoint / TOKENIZERS_DIR / MANIFEST_NAME).is_file():
        _export_tokenizers(checkpoint / TOKENIZERS_DIR, out / TOKENIZERS_DIR, shipped)
    return out


def _default_feature_input(model: FourM) -> str:
    """The model's RGB pixel input if it has one, else its first grid input."""
    from omnimask.model.encoder import FEATURE_INPUT_KINDS

    grid = [m for m in model.input_modalities if model.specs[m].kind in FEATURE_INPUT_KINDS]
    pixels = [m for m in grid if model.specs[m].kind == "pixels"]
    if not grid:
        raise ConfigError(f"the model has no grid input to extract features from (inputs: {model.input_modalities})")
    return (pixels or grid)[0]


def export_encoder(source: str | Path, out: str | Path, modality: str | None = None) -> Path:
    """Write the encoder of a model folder as a self-contained ``torch.export`` program.

    ``out`` gets ``encoder.pt2`` — ``torch.export.load(path).module()(x)`` maps inputs to features
    with nothing but torch (shape contract: :mod:`omnimask.model.encoder`; the batch size is free) —
    and ``encoder.json`` stating that contract for this model (input name, shape, dtype and
    normalisation; output shape). ``source`` is any model :func:`load` opens (ours, a fine-tuned task
    model — its fine-tuned backbone — or a released 4M); ``modality`` the input (default: the RGB
    pixel input, else the first grid input).
    """
    import torch

    from omnimask.model.encoder import FeatureEncoder
    from omnimask.model.heads import TaskModel
    from omnimask.tokenizers.pixels import IMAGENET_MEAN, IMAGENET_STD

    model = load(source)
    fourm = model.fourm if isinstance(model, TaskModel) else model
    encoder = FeatureEncoder(fourm, modality or _default_feature_input(fourm)).eval()
    pixels = encoder.spec.kind == "pixels"
    example = torch.zeros(2, *encoder.input_shape(), dtype=torch.float32 if pixels else torch.long)
    batch = torch.export.Dim("batch", min=1, max=65536)
    with torch.no_grad():
        program = torch.export.export(encoder, (example,), dynamic_shapes=({0: batch},))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / ENCODER_NAME) as tmp, open(tmp, "wb") as f:
        torch.export.save(program, f)
    grid = encoder.spec.grid
    values = ({"normalisation": {"mean": IMAGENET_MEAN.ravel().tolist(), "std": IMAGENET_STD.ravel().tolist(),
                                 "from": "RGB in [0, 1]"}} if pixels else {"from": "token ids of its tokenizer"})
    contract = {
        "source": str(source),
        "input": {"modality": encoder.modality, "shape": ["B", *encoder.input_shape()],
                  "dtype": "float32" if pixels else "int64", **values},
        "output": {"shape": ["B", encoder.spec.num_tokens, encoder.dim], "dtype": "float32",
                   "layout": f"row-major over the {grid[0]}x{grid[1]} token grid" if grid else "token order"},
        "usage": "torch.export.load('encoder.pt2').module()(x) -> (B, N, D) features",
    }
    write_json(out / ENCODER_CONTRACT_NAME, contract)
    return out
