"""Pre-tokenizing a SynthWorld folder: every modality of every sample to token arrays, aligned by key.

4M trains on pre-tokenized data: each sample's modalities are turned into ids once, by the
tokenizers the model will be paired with, and stored side by side under the sample's key. This
module does it for a folder written by ``omnimask synth`` (``DIR/{split}/{modality}/{key}.{ext}``)
and writes the store format of :mod:`omnimask.data.token_store`, which ``data.source=store`` reads::

    OUT/manifest.json         dataset, tokenizer bundle, modalities (kind, vocabulary), split counts
    OUT/tokenizers/           a copy of the bundle used (so the store says how to decode it)
    OUT/{split}/keys.json     sample keys; row i of every array belongs to keys[i]
    OUT/{split}/...           one array (grids, pixels) or three (sequences) per modality

Alignment: every modality of a sample is tokenized from the same full frame (SynthWorld renders all
maps of a scene from one camera, so there is no crop to share), and rows are written in key order.
The sample → tokens mapping is :class:`~omnimask.data.tokenize.SampleTokenizer`'s, the one the
on-the-fly sources use. Work is done in chunks of samples written under ``OUT/.parts/``; a rerun
skips finished chunks and finished splits (resume), then merges the chunks of a split.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import UnidentifiedImageError

from omnimask.config import ConfigError, read_json
from omnimask.data.synthworld import load_sample
from omnimask.data.synthworld.dataset import SPLITS
from omnimask.data.synthworld.writer import MODALITY_FILES, sample_paths
from omnimask.data.token_store import TokenStore
from omnimask.data.tokenize import SampleTokenizer, sample_field
from omnimask.files import MANIFEST_NAME, TOKENIZERS_DIR, atomic_dir, write_json
from omnimask.modalities import ModalitySpec, synthworld_modalities
from omnimask.progress import tqdm
from omnimask.tokenizers.bundle import load_tokenizers, shipped_bundle_path

FORMAT = "omnimask-token-store/1"


def bundle_fingerprint(bundle: Path) -> str:
    """SHA-256 (16 hex digits) over the relative paths and bytes of every file of a bundle folder."""
    digest = hashlib.sha256()
    for path in sorted(p for p in bundle.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(bundle)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def dataset_keys(root: Path, split: str) -> list[str]:
    """Keys of the complete samples of ``split`` (every file of the ``rgb`` folder names one)."""
    folder = root / split / "rgb"
    return sorted(p.name.split(".")[0] for p in folder.glob("*.png")) if folder.is_dir() else []


def select_specs(resolution: int, vocab: Mapping[str, int], modalities: Sequence[str] | None,
                 fields: Collection[str] | None = None) -> dict[str, ModalitySpec]:
    """The SynthWorld specs to store: ``modalities`` (default: ``rgb@R`` pixels and every discrete
    modality the bundle covers whose source field the dataset has — ``fields``, default all), each
    checked against the bundle (``vocab``: modality → tokenizer vocabulary) and the dataset. A spec's
    vocabulary is raised to its tokenizer's where the registry's is smaller, so the store records what
    its ids need (a model trained on it must declare at least as much)."""
    specs = synthworld_modalities(resolution=resolution)
    have = set(fields) if fields is not None else None
    if modalities is None:
        names = [n for n, s in specs.items()
                 if (s.is_pixels or n in vocab) and (have is None or sample_field(s) in have)]
    else:
        names = list(modalities)
    out: dict[str, ModalitySpec] = {}
    for name in names:
        if name not in specs:
            raise ConfigError(f"--modalities: {name!r} is not a SynthWorld modality at {resolution}px; "
                              f"known: {sorted(specs)}")  # fmt: skip
        spec = specs[name]
        if spec.is_discrete and name not in vocab:
            raise ConfigError(f"--modalities: the tokenizer bundle has no tokenizer for {name!r}; it covers "
                              f"{sorted(vocab)}")  # fmt: skip
        if have is not None and sample_field(spec) not in have:
            raise ConfigError(f"--modalities: {name!r} reads the dataset's {sample_field(spec)!r}, which this "
                              f"dataset does not have (it has {sorted(have)}); label it first")
        out[name] = spec.with_(vocab_size=vocab[name]) if vocab.get(name, 0) > spec.vocab_size else spec
    return out


def at_other_resolutions(resolution: int, bundle: Collection[str]) -> dict[str, str]:
    """Each discrete SynthWorld modality at ``resolution`` that the ``bundle`` (tokenizer names) lacks but
    has at another resolution → that tokenizer (``tok_rgb@70`` → ``tok_rgb@64``)."""
    others = {name.partition("@")[0]: name for name in bundle if "@" in name}
    return {name: others[name.partition("@")[0]] for name, spec in synthworld_modalities(resolution=resolution).items()
            if spec.is_discrete and name not in bundle and name.partition("@")[0] in others}


def _dataset_manifest(root: Path) -> dict[str, Any]:
    path = root / "manifest.json"
    if not path.is_file():
        raise ConfigError(f"{root} is not a dataset written by `omnimask synth` or `omnimask label` (no manifest.json)")
    info = read_json(path)
    if not info.get("complete", False):
        raise ConfigError(f"{root} is incomplete (an interrupted `omnimask synth` or `omnimask label`); rerun that "
                          "command to finish it")
    return info


def _modality_entry(spec: ModalitySpec, loaded: dict[str, Any]) -> dict[str, Any]:
    vocab = loaded[spec.name].vocab_size if spec.name in loaded else 0
    return {"kind": spec.kind, "vocab_size": spec.vocab_size, "num_tokens": spec.num_tokens, "tokenizer_vocab": vocab}


def _prepare_bundle(out: Path, bundle: Path) -> str:
    """Copy the bundle into ``out/tokenizers`` (or check that the copy there is the same one)."""
    fingerprint = bundle_fingerprint(bundle)
    target = out / TOKENIZERS_DIR
    if target.is_dir():
        if bundle_fingerprint(target) != fingerprint:
            raise ConfigError(f"{out} was pre-tokenized with another tokenizer bundle; pass the same --tokenizers "
                              "to resume, or choose another --out")  # fmt: skip
    else:
        with atomic_dir(target) as tmp:
            shutil.copytree(bundle, tmp, dirs_exist_ok=True)
    return fingerprint


#: What reading a corrupt, truncated or missing file raises (PIL, JSON, the file system).
UNREADABLE = (OSError, ValueError, SyntaxError, UnidentifiedImageError)
#: A finished chunk's record: the keys it covered and the samples it skipped (resume compares the keys).
CHUNK_NAME = "chunk.json"


def _load(root: Path, split: str, key: str, fields: Sequence[str]) -> tuple[dict | None, str]:
    """One sample's fields, or None and why it cannot be read (a corrupt or missing file)."""
    try:
        return load_sample(root, split, key, fields), ""
    except UNREADABLE as err:
        paths = sample_paths(root, split, key)
        return None, f"{next((paths[f] for f in fields if not _readable(root, split, key, f)), paths[fields[0]])}: " \
                     f"{type(err).__name__}: {err}"


def _readable(root: Path, split: str, key: str, field: str) -> bool:
    try:
        load_sample(root, split, key, [field])
    except UNREADABLE:
        return False
    return True


def _tokenize_split(root: Path, out: Path, split: str, keys: list[str], tokenizer: SampleTokenizer,
                    batch: int, chunk: int, progress: bool) -> tuple[int, list[dict[str, str]]]:
    """Tokenize one split chunk by chunk (finished chunks are kept), then merge; returns its size and the
    samples skipped because a file of theirs could not be read (key and reason; warned as they occur)."""
    parts = out / ".parts" / split
    vocab = {name: spec.vocab_size for name, spec in tokenizer.specs.items()}
    fields = sorted({sample_field(spec) for spec in tokenizer.specs.values()})
    bar = tqdm(total=len(keys), desc=f"pretokenize {split}", unit="sample", disable=not progress)
    skipped: list[dict[str, str]] = []
    for index, start in enumerate(range(0, len(keys), chunk)):
        part = parts / f"{index:05d}"
        chunk_keys = keys[start : start + chunk]
        done = json.loads((part / CHUNK_NAME).read_text()) if (part / CHUNK_NAME).is_file() else None
        if done is not None and done["keys"] == chunk_keys:
            skipped += done["skipped"]
            bar.update(len(chunk_keys))
            continue
        rows: list[dict[str, Any]] = []
        kept: list[str] = []
        lost: list[dict[str, str]] = []
        for b in range(0, len(chunk_keys), batch):
            loaded = [(k, *_load(root, split, k, fields)) for k in chunk_keys[b : b + batch]]
            for k, _, why in loaded:
                if why:
                    warnings.warn(f"pretokenize {split}: skipping sample {k}: {why}", RuntimeWarning, stacklevel=2)
                    lost.append({"key": k, "error": why})
            good = [(k, sample) for k, sample, _ in loaded if sample is not None]
            rows += tokenizer.batch([sample for _, sample in good])
            kept += [k for k, _ in good]
            bar.update(len(loaded))
        TokenStore.from_samples(kept, rows, vocab).save(part)
        write_json(part / CHUNK_NAME, {"keys": chunk_keys, "skipped": lost})
        skipped += lost
    bar.close()
    stores = [TokenStore.load(parts / f"{i:05d}") for i in range((len(keys) + chunk - 1) // chunk)]
    kept_keys = [k for s in stores for k in s.keys]
    merged = TokenStore.from_samples(kept_keys, [s[i] for s in stores for i in range(len(s))], vocab)
    merged.save(out / split)
    shutil.rmtree(parts)
    if not any(parts.parent.iterdir()):
        parts.parent.rmdir()
    return len(merged), skipped


def pretokenize_dataset(dataset: str | Path, out: str | Path, *, tokenizers: str | Path | None = None,
                        modalities: Sequence[str] | None = None, splits: Sequence[str] = SPLITS,
                        batch: int = 64, chunk: int = 1024, progress: bool = True,
                        feature_labeler: Any = None) -> dict[str, Any]:
    """Pre-tokenize an ``omnimask synth`` folder into a token store at ``out`` (see module docstring).

    Args:
        dataset: the SynthWorld folder.
        out: the store folder (created; an existing one is resumed).
        tokenizers: a tokenizer bundle folder (default: the shipped ``synthworld64`` bundle).
        modalities: model modality names to store (default: ``rgb@R`` and all the bundle covers).
        splits: splits to process (those absent from the dataset are skipped).
        batch: samples per tokenizer call; chunk: samples per resumable chunk.
        progress: draw progress bars.
        feature_labeler: the :class:`~omnimask.data.labelers.base.FeatureLabeler` whose features of the
            RGB the feature modalities (``tok_clip``, ``tok_clip_global``) tokenize (default: MiniCLIP).

    Returns:
        The store's manifest (also written to ``out/manifest.json``).
    """
    root, out = Path(dataset), Path(out)
    info = _dataset_manifest(root)
    bundle = Path(tokenizers) if tokenizers else shipped_bundle_path("synthworld64")
    if not (bundle / MANIFEST_NAME).is_file():
        raise ConfigError(f"--tokenizers {bundle}: not a tokenizer bundle (no {MANIFEST_NAME})")
    loaded = load_tokenizers(bundle)
    specs = select_specs(info["resolution"], {n: t.vocab_size for n, t in loaded.items()}, modalities,
                         fields=list(info.get("modalities", MODALITY_FILES)))
    elsewhere = at_other_resolutions(info["resolution"], loaded) if modalities is None else {}
    if elsewhere:
        raise ConfigError(f"the bundle {bundle} tokenizes {sorted(set(elsewhere.values()))}, not the "
                          f"{info['resolution']}px {sorted(elsewhere)} of this dataset, which would be left out; use "
                          f"a bundle trained at {info['resolution']}px, write the dataset at the bundle's resolution, "
                          "or name the modalities to store with --modalities")
    if not any(s.is_discrete for s in specs.values()) and modalities is None:
        raise ConfigError(f"the bundle {bundle} covers none of the SynthWorld modalities at {info['resolution']}px "
                          f"(it has {sorted(loaded)}); use a bundle trained at that resolution")  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.json"
    old = json.loads(manifest_path.read_text()) if manifest_path.is_file() else None
    if old is not None and sorted(old["modalities"]) != sorted(specs):
        raise ConfigError(f"{out} holds the modalities {sorted(old['modalities'])}, not {sorted(specs)}; "
                          "resume with the same --modalities or choose another --out")  # fmt: skip
    fingerprint = _prepare_bundle(out, bundle)
    tokenizer = SampleTokenizer(specs, {n: t for n, t in loaded.items() if n in specs}, labeler=feature_labeler)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "dataset": str(root.resolve()),
        "source": {k: info.get(k) for k in ("generator_version", "seed", "resolution", "num")},
        "tokenizers": "tokenizers",
        "tokenizer_fingerprint": fingerprint,
        "modalities": {n: _modality_entry(s, loaded) for n, s in specs.items()},
        "splits": dict(old["splits"]) if old else {},
        "skipped": dict(old.get("skipped", {})) if old else {},
    }
    for split in splits:
        if split not in SPLITS:
            raise ConfigError(f"--splits: {split!r} is not one of {list(SPLITS)}")
        keys = dataset_keys(root, split)
        finished = manifest["splits"].get(split, -1) + len(manifest["skipped"].get(split, []))
        if not keys or (finished == len(keys) and (out / split / "keys.json").is_file()):
            continue
        manifest["splits"][split], lost = _tokenize_split(root, out, split, keys, tokenizer, batch, chunk, progress)
        manifest["skipped"][split] = lost
        manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
