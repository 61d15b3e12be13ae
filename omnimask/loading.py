"""``omnimask.load(path)``: open any checkpoint omnimask understands, picking the right loader.

Recognised, by what the folder or file holds:

* an omnimask model — ``config.json`` holding a :class:`~omnimask.model.ModelConfig` (or a weights
  file carrying it in its header) → :meth:`FourM.from_pretrained`;
* a released 4M model — ``domains_in`` / ``domains_out`` in ``config.json`` or the safetensors
  metadata → :func:`omnimask.compat.load_fm`;
* a tokenizer — an omnimask tokenizer card (``config.json`` with ``kind`` and ``input``) →
  :class:`~omnimask.tokenizers.ModalityTokenizer`, or a released tokenizer (``quant_type`` /
  ``enc_type`` in its config) → :func:`omnimask.compat.load_released_tokenizer`;
* a tokenizer bundle (``manifest.json``) → :func:`omnimask.tokenizers.bundle.load_tokenizers`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors import safe_open

KINDS = ("model", "released_model", "tokenizer", "released_tokenizer", "tokenizer_bundle")


def _config_of(path: Path) -> dict[str, Any]:
    """The JSON config of a folder, or the (raw string) metadata of a weights file."""
    if path.is_dir():
        if (path / "manifest.json").is_file() and not (path / "config.json").is_file():
            return {"__bundle__": True}
        config = path / "config.json"
        return json.loads(config.read_text()) if config.is_file() else {}
    with safe_open(str(path), framework="pt", device="cpu") as f:
        return dict(f.metadata() or {})


def detect(path: str | Path) -> str:
    """What ``path`` holds: one of :data:`KINDS`; an error says what was expected otherwise."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if path.is_dir() and (path / "tokenizers" / "manifest.json").is_file() and not (path / "config.json").is_file():
        return "tokenizer_bundle"
    config = _config_of(path)
    if "__bundle__" in config:
        return "tokenizer_bundle"
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
    if kind == "model":
        from omnimask.model import FourM

        return FourM.from_pretrained(path, **kwargs)
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
