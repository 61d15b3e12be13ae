"""Inference copies of trained models: a training checkpoint → a small folder to ship or share.

A training checkpoint (``<run>/checkpoint``) holds float32 weights, the optimizer state and a full copy
of the tokenizers. :func:`export_model` keeps what inference needs: ``model.safetensors`` cast to
``dtype`` (float16 halves the size; loading casts back to the model's float32 parameters),
``config.json`` and ``tokenizers/``. Tokenizer folders byte-identical to a bundle shipped with omnimask
are referenced (``"path": "shipped:synthworld64/rgb"``) instead of copied, so the model shipped in the
package does not carry the shipped tokenizers twice.
"""

from __future__ import annotations

import filecmp
import json
import shutil
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import save_file

from omnimask.model.checkpoint import CONFIG_NAME, WEIGHTS_NAME
from omnimask.tokenizers.bundle import DTYPES, MANIFEST, SHIPPED_PREFIX, shipped_bundle_path


def _same_tree(a: Path, b: Path) -> bool:
    """Whether folders ``a`` and ``b`` hold the same files with the same bytes."""
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    return files_a == files_b and all(filecmp.cmp(a / f, b / f, shallow=False) for f in files_a)


def _export_tokenizers(src: Path, out: Path, shipped: str | None) -> dict[str, str]:
    """Write ``out/manifest.json`` (+ copied folders); returns entry path → where it went."""
    manifest = json.loads((src / MANIFEST).read_text())
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
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
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
    with safe_open(str(weights), framework="pt", device="cpu") as f:
        metadata = f.metadata() or {}
        state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    state = {k: v.to(DTYPES[dtype]) if v.is_floating_point() else v for k, v in state.items()}
    out.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out / WEIGHTS_NAME), metadata={**metadata, "storage_dtype": dtype})
    shutil.copyfile(checkpoint / CONFIG_NAME, out / CONFIG_NAME)
    if (checkpoint / "tokenizers" / MANIFEST).is_file():
        _export_tokenizers(checkpoint / "tokenizers", out / "tokenizers", shipped)
    return out
