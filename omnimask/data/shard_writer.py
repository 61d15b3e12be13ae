"""Writing per-modality tar shard sets (the layout of :mod:`omnimask.data.shards`).

``omnimask shard DATASET --out DIR`` converts a folder dataset, split by split, into::

    DIR/{split}/manifest.json
    DIR/{split}/{modality}/shard-{00000..N}.tar     aligned: shard i holds the same keys in every modality
    DIR/tokenizers/                                 copied from a pre-tokenized store, when it has one
    DIR/source_manifest.json                        the source dataset's own manifest, when it has one

Two kinds of folder are understood:

* a pre-tokenized store (``DATASET/{split}/keys.json`` + arrays, :class:`~omnimask.data.token_store.TokenStore`):
  grids become ``npy`` members, sequences ``chunks.json`` — what training streams;
* a raw per-modality folder (``DATASET/{split}/{modality}/{key}.{ext}``, e.g. ``omnimask synth`` output):
  files are copied byte for byte (png, json, txt, ...); only keys present in every modality are kept.

``DATASET`` may also be a single split (a store split, or a folder of modality folders). Shards are
written in parallel (one job per shard), each tar under a temporary name renamed into place, and the
manifest last, so a shard set with a manifest is complete. Member order and metadata are fixed
(``mtime`` 0), so the same input gives the same bytes.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from omnimask.config import ConfigError
from omnimask.data.shards import FORMAT, MANIFEST_NAME, check_key, encode, require, shard_name, token_ext
from omnimask.data.token_store import TokenStore


def _is_store_split(path: Path) -> bool:
    return (path / "keys.json").is_file()


def _is_raw_split(path: Path) -> bool:
    """A folder of modality folders that hold the sample files."""
    folders = [p for p in path.iterdir() if p.is_dir()]
    return bool(folders) and all(any(f.is_file() for f in d.iterdir()) for d in folders)


def find_splits(dataset: Path, default_split: str = "train") -> dict[str, Path]:
    """Split name → folder: the dataset's split folders, or the dataset itself when it is one split."""
    if _is_store_split(dataset):
        return {default_split: dataset}
    children = [p for p in sorted(dataset.iterdir()) if p.is_dir()]
    splits = {p.name: p for p in children if _is_store_split(p)}
    splits = splits or {p.name: p for p in children if _is_raw_split(p)}
    if splits:
        return splits
    if _is_raw_split(dataset):
        return {default_split: dataset}
    raise ValueError(
        f"{dataset} is neither a pre-tokenized store (split folders with keys.json) nor a raw folder dataset "
        "({split}/{modality}/{key}.{ext}); point at one of those"
    )


def _raw_files(split: Path) -> tuple[list[str], dict[str, str], dict[str, dict[str, Path]]]:
    """Keys present in every modality folder, each modality's extension, and key → file per modality."""
    files: dict[str, dict[str, Path]] = {}
    exts: dict[str, str] = {}
    for folder in sorted(p for p in split.iterdir() if p.is_dir()):
        by_key: dict[str, Path] = {}
        for f in folder.iterdir():
            key, _, ext = f.name.partition(".")
            if f.is_file() and ext and not f.name.startswith("."):
                by_key[key] = f
                exts.setdefault(folder.name, ext)
                if ext != exts[folder.name]:
                    raise ValueError(f"{folder} mixes .{exts[folder.name]} and .{ext} files; one type per modality")
        files[folder.name] = by_key
    keys = sorted(set.intersection(*(set(k) for k in files.values())))
    return keys, exts, files


class _SplitReader:
    """Encoded members of one sample row of a split (re-opened in each worker process)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if _is_store_split(path):
            self.store: TokenStore | None = TokenStore.load(path)
            self.keys = self.store.keys
            first = self.store[0] if len(self.store) else {}
            self.exts = {m: token_ext(first[m]) for m in self.store.modalities}
        else:
            self.store = None
            self.keys, self.exts, self.files = _raw_files(path)

    def members(self, row: int) -> dict[str, bytes]:
        if self.store is not None:
            sample = self.store[row]
            return {m: encode(ext, sample[m]) for m, ext in self.exts.items()}
        key = self.keys[row]
        return {m: self.files[m][key].read_bytes() for m in self.exts}


@functools.lru_cache(maxsize=4)
def _reader(split: Path) -> _SplitReader:
    """One reader per split and process (a raw split's folders are listed once, not once per shard)."""
    return _SplitReader(split)


def _write_tar(path: Path, members: Sequence[tuple[str, str, bytes]]) -> None:
    wds = require("webdataset")
    tmp = path.with_name(path.name + ".partial")
    with wds.TarWriter(str(tmp), encoder=False, mtime=0) as sink:  # an int mtime needs no pax header
        for key, ext, data in members:
            sink.write({"__key__": key, ext: data})
    tmp.replace(path)


def _write_shard(job: tuple[Path, Path, int, list[int]]) -> int:
    split, out, index, rows = job
    reader = _reader(split)
    per_modality: dict[str, list[tuple[str, str, bytes]]] = {m: [] for m in reader.exts}
    for row in rows:
        key = check_key(reader.keys[row])
        for m, data in reader.members(row).items():
            per_modality[m].append((key, reader.exts[m], data))
    for m, members in per_modality.items():
        (out / m).mkdir(parents=True, exist_ok=True)
        _write_tar(out / m / shard_name(index), members)
    return len(rows)


def write_split(
    split: Path, out: Path, samples_per_shard: int = 1000, shuffle_seed: int | None = None, workers: int = 1
) -> dict[str, Any]:
    """Write one split as a shard set at ``out``; returns its manifest.

    ``shuffle_seed`` permutes the samples before cutting shards (streaming readers then only need a
    small shuffle buffer); None keeps the source order.
    """
    if samples_per_shard < 1:
        raise ValueError(f"samples_per_shard must be >= 1, got {samples_per_shard}")
    _reader.cache_clear()  # the folder may have changed since an earlier call
    reader = _reader(split)
    rows = np.arange(len(reader.keys))
    if shuffle_seed is not None:
        rows = np.random.default_rng(shuffle_seed).permutation(rows)
    chunks = [rows[i : i + samples_per_shard].tolist() for i in range(0, len(rows), samples_per_shard)]
    if not chunks:
        raise ValueError(f"{split} has no sample present in every modality; nothing to shard")
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST_NAME).unlink(missing_ok=True)  # incomplete until rewritten below
    jobs = [(split, out, i, c) for i, c in enumerate(chunks)]
    if workers > 1:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            sizes = pool.map(_write_shard, jobs)
    else:
        sizes = [_write_shard(j) for j in jobs]
    dropped = 0
    if reader.store is None:
        dropped = len(set().union(*(set(f) for f in reader.files.values()))) - len(reader.keys)
    manifest = {
        "format": FORMAT,
        "modalities": reader.exts,
        "shards": len(chunks),
        "samples": int(sum(sizes)),
        "shard_sizes": sizes,
        "pretokenized": reader.store is not None,
        "dropped_keys": dropped,
    }
    tmp = out / (MANIFEST_NAME + ".partial")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    tmp.replace(out / MANIFEST_NAME)
    return manifest


def shard_dataset(
    dataset: str | Path,
    out: str | Path,
    samples_per_shard: int = 1000,
    shuffle_seed: int | None = None,
    workers: int = 1,
    split: str = "train",
) -> dict[str, dict]:
    """Convert a folder dataset (see the module docstring) into shard sets under ``out``; split → manifest."""
    dataset, out = Path(dataset), Path(out)
    if not dataset.is_dir():
        raise ConfigError(f"{dataset} is not a folder; give a token store (omnimask pretokenize) or a dataset folder")
    src, dst = dataset.resolve(), out.resolve()
    if dst == src or src in dst.parents or dst in src.parents:
        where = "the input" if dst == src else "inside the input" if src in dst.parents else "a parent of the input"
        raise ConfigError(f"--out {out} is {where} {dataset}; write the shards to a separate folder")
    manifests = {
        name: write_split(path, out / name, samples_per_shard, shuffle_seed, workers)
        for name, path in find_splits(dataset, split).items()
    }
    if (dataset / "tokenizers").is_dir():
        shutil.rmtree(out / "tokenizers", ignore_errors=True)
        shutil.copytree(dataset / "tokenizers", out / "tokenizers")
    if (dataset / "manifest.json").is_file():
        shutil.copyfile(dataset / "manifest.json", out / "source_manifest.json")
    return manifests
