"""The tokenizers of a model, one per modality, saved beside the model.

A model directory holds ``tokenizers/`` with one sub-folder per tokenizer and ``manifest.json``
mapping each modality name to its entry, so a trained model carries everything needed to turn raw
inputs into tokens and generated tokens back into images and text::

    tokenizers/manifest.json    {"tok_depth@64": {"type": "card", "map": "depth", "path": "depth"},
                                 "caption": {"type": "text", "path": "text"}, ...}

The entry types (:mod:`omnimask.tokenizers.entries`) are one table, :data:`ENTRY_TYPES`, keyed by the
manifest's ``type``: saving asks each tokenizer for its entry, loading asks the table for the class.
The SynthWorld tokenizers shipped with omnimask are a bundle too: :func:`shipped_bundle_path`. An
entry's ``path`` may point into it (``"shipped:synthworld64/rgb"``, see :func:`entry_path`).
"""

from __future__ import annotations

import importlib.resources
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omnimask.files import MANIFEST_NAME, TOKENIZERS_DIR, write_json
from omnimask.tokenizers.entries import (
    AnyTokenizer,
    CardMapTokenizer,
    FeatureKMeansTokenizer,
    MapTokenizer,
    SequenceTokenizer,
)

#: Manifest ``type`` → entry class.
ENTRY_TYPES: dict[str, type[AnyTokenizer]] = {
    cls.entry_type: cls for cls in (MapTokenizer, FeatureKMeansTokenizer, CardMapTokenizer, SequenceTokenizer)
}
Tokenizers = dict[str, AnyTokenizer]
#: Prefix of a manifest ``path`` that points into a bundle shipped with omnimask (``shipped:synthworld64/rgb``).
SHIPPED_PREFIX = "shipped:"


def shipped_bundle_path(name: str = "synthworld64") -> Path:
    """Folder of a tokenizer bundle shipped inside the package (``omnimask/assets/tokenizers/NAME``)."""
    root = Path(str(importlib.resources.files("omnimask") / "assets" / "tokenizers"))
    path = root / name
    if not (path / MANIFEST_NAME).is_file():
        known = sorted(p.name for p in root.iterdir() if (p / MANIFEST_NAME).is_file()) if root.is_dir() else []
        raise FileNotFoundError(f"no shipped tokenizer bundle {name!r} (in {root}); shipped: {known}")
    return path


def save_tokenizers(tokenizers: Mapping[str, AnyTokenizer], directory: str | Path) -> Path:
    """Write every tokenizer once (shared ones, like the text vocabulary, are stored once)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    manifest = {name: tok.save_entry(directory) for name, tok in tokenizers.items()}
    write_json(directory / MANIFEST_NAME, manifest)
    return directory


def entry_path(root: Path, rel: str) -> Path:
    """Folder of a manifest entry: ``root/rel``, or inside a shipped bundle for ``shipped:NAME/SUB``.

    Models exported with :func:`omnimask.loading.export_model` reference the shipped tokenizers
    this way instead of carrying a second copy of them.
    """
    if rel.startswith(SHIPPED_PREFIX):
        bundle, _, sub = rel.removeprefix(SHIPPED_PREFIX).partition("/")
        return shipped_bundle_path(bundle) / sub
    return root / rel


def read_manifest(path: str | Path) -> tuple[Path, dict[str, dict[str, Any]]]:
    """The bundle folder and its manifest (modality name → entry); ``path`` is the bundle folder or a
    model folder holding ``tokenizers/``."""
    path = Path(path)
    if not (path / MANIFEST_NAME).is_file() and (path / TOKENIZERS_DIR / MANIFEST_NAME).is_file():
        path = path / TOKENIZERS_DIR
    if not (path / MANIFEST_NAME).is_file():
        raise FileNotFoundError(f"no tokenizer bundle at {path} (expected {MANIFEST_NAME} or "
                                f"{TOKENIZERS_DIR}/{MANIFEST_NAME})")
    return path, json.loads((path / MANIFEST_NAME).read_text())


def load_tokenizers(path: str | Path) -> Tokenizers:
    """Load a tokenizer bundle: ``path`` is the bundle folder or a model folder holding ``tokenizers/``."""
    path, manifest = read_manifest(path)
    shared: dict[str, Any] = {}  # one model / vocabulary per folder, shared by the names using it
    out: Tokenizers = {}
    for name, entry in manifest.items():
        cls = ENTRY_TYPES.get(entry.get("type", ""))
        if cls is None:
            raise ValueError(f"{path / MANIFEST_NAME}: unknown tokenizer type {entry.get('type')!r} for {name!r}; "
                             f"known: {sorted(ENTRY_TYPES)}")
        out[name] = cls.load_entry(entry_path(path, entry["path"]), entry, shared, name)
    return out
