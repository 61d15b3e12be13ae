"""The files of a checkpoint folder and the one way omnimask writes them: atomically.

Every folder omnimask writes — a model, a tokenizer, a tokenizer bundle, a training checkpoint — is
built from these names (the layout a model hub uses: ``model.safetensors`` + ``config.json``), and
every file is written through :func:`atomic_path`: to a temporary name beside the target, then
renamed into place, so a crash leaves the old file or the new one, never half of either. Whole
folders (a training checkpoint, a copied bundle) go through :func:`atomic_dir` the same way.
Reading back, :func:`check_shapes` compares the tensors a config describes with a weights file's
header (:func:`tensor_shapes`) before a model or tokenizer is allocated.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

#: Weights of a model or tokenizer (safetensors).
WEIGHTS_NAME = "model.safetensors"
#: The resolved configuration (a model's ModelConfig, a tokenizer's card) as JSON.
CONFIG_NAME = "config.json"
#: The table of a tokenizer bundle: modality name -> entry.
MANIFEST_NAME = "manifest.json"
#: The tokenizer bundle inside a model folder.
TOKENIZERS_DIR = "tokenizers"
#: The resolved run configuration beside a training checkpoint (4M or tokenizer training).
RUN_CONFIG_NAME = "train_config.json"
#: Optimizer, scheduler, step and random states of a training checkpoint (``weights_only``-safe).
STATE_NAME = "train_state.pt"
#: An exported encoder: a ``torch.export`` program, and the JSON stating its input / output contract.
ENCODER_NAME = "encoder.pt2"
ENCODER_CONTRACT_NAME = "encoder.json"


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on a clean exit rename it onto ``path``.

    The parent folder is created. The file gets the permissions a plain ``open`` would give it (0666
    less the umask: libraries such as safetensors create 0600 files, which others sharing a run
    folder could not read). On an exception the temporary file is removed and ``path`` is left as
    it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        if tmp.is_file():
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    """The process's umask (read by setting it, then restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: File that marks a filled ``.partial`` folder as complete (present only between two renames).
COMPLETE_MARK = ".complete"


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield an empty ``<path>.partial`` folder to fill; on a clean exit it replaces ``path``.

    The filled folder is marked complete (:data:`COMPLETE_MARK`), the previous ``path`` (if any) is moved
    to ``<path>.old``, the new one renamed into place and the old one removed, so at every moment one
    complete copy exists; a kill anywhere after the mark is repaired by :func:`recover_dir` (called here
    first, and by whatever reads the folder back, e.g. ``--resume``), which finishes the replacement. On
    an exception the partial folder is removed and ``path`` is left as it was.
    """
    path = recover_dir(path)
    tmp, old = path.with_name(path.name + ".partial"), path.with_name(path.name + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    (tmp / COMPLETE_MARK).touch()
    _promote(tmp, path, old)


def _promote(tmp: Path, path: Path, old: Path) -> None:
    """Put the complete (marked) folder ``tmp`` in the place of ``path``: the current ``path`` (if any)
    goes to ``old`` first and is removed last, so at each moment one complete copy exists."""
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        path.rename(old)
    tmp.rename(path)
    (path / COMPLETE_MARK).unlink()
    shutil.rmtree(old, ignore_errors=True)


def recover_dir(path: str | Path) -> Path:
    """Repair what a kill inside :func:`atomic_dir` left. A complete (marked) ``<path>.partial`` is the
    newest copy and takes the place of ``path`` (whether or not ``path`` was moved aside yet); else, with
    ``path`` missing, the previous ``<path>.old`` becomes ``path``; nothing complete is deleted before a
    newer complete copy is in place. Returns ``path``."""
    path = Path(path)
    tmp, old = path.with_name(path.name + ".partial"), path.with_name(path.name + ".old")
    if (tmp / COMPLETE_MARK).exists():
        _promote(tmp, path, old)
    elif not path.exists() and old.is_dir():
        old.rename(path)
    elif (path / COMPLETE_MARK).exists():  # killed after the last rename, before the mark was removed
        (path / COMPLETE_MARK).unlink()
    return path


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | Path, value: Any) -> Path:
    """Write ``value`` as indented JSON (plus a newline) to ``path`` atomically."""
    return write_text(path, json.dumps(value, indent=2) + "\n")


def write_safetensors(path: str | Path, tensors: Mapping[str, Any], metadata: Mapping[str, str] | None = None) -> Path:
    """Write a ``{name: tensor}`` dict as safetensors (``metadata``: string header fields) atomically."""
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=dict(metadata or {"format": "pt"}))
    return Path(path)


@contextlib.contextmanager
def open_safetensors(path: str | Path) -> Iterator[Any]:
    """``safetensors.safe_open`` of ``path`` on the CPU; a truncated or corrupt file is a ValueError naming it."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            yield f
    except SafetensorError as err:
        raise ValueError(f"{path} is not a readable safetensors file ({err}): truncated or corrupt; copy it "
                         "again or re-export it") from None


def tensor_shapes(path: str | Path) -> dict[str, tuple[int, ...]]:
    """Name → shape of every tensor of a safetensors file, read from its header alone (no tensor is loaded)."""
    with open_safetensors(path) as f:
        return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)


def check_shapes(weights: Path, expected: dict[str, tuple[int, ...]], found: dict[str, tuple[int, ...]]) -> None:
    """Every tensor the config implies is in the weights (their header) with the same shape; else a
    ValueError listing the first differences (check on a meta-device skeleton, before allocating)."""
    missing = [k for k in expected if k not in found]
    wrong = [f"{k} {found[k]} in the weights, {expected[k]} by the config" for k in expected
             if k in found and found[k] != expected[k]]
    if missing or wrong:
        listed = "; ".join(wrong[:3] + [f"{k} missing" for k in missing[:3]])
        raise ValueError(f"{weights.parent / CONFIG_NAME} does not describe {weights} ({len(wrong)} shapes differ, "
                         f"{len(missing)} tensors missing: {listed}); the config was edited or belongs to another "
                         "model")
