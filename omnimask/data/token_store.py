"""Pre-tokenized samples: token arrays per modality per sample, aligned by sample key.

This is what the training loop consumes (and what ``omnimask pretokenize`` writes). A store is one
folder per split::

    DIR/manifest.json                      modalities (kind, vocab), splits and counts
    DIR/{split}/keys.json                  sample keys, row i of every array belongs to keys[i]
    DIR/{split}/{modality}.npy             grids: (S, N) ids; pixels: (S, H, W, C) uint8
    DIR/{split}/{modality}.ids.npy         sequences: all ids of all samples, flat
    DIR/{split}/{modality}.chunks.npy      sequences: chunk offsets into ids (chunks+1,)
    DIR/{split}/{modality}.samples.npy     sequences: sample offsets into chunks (S+1,)

A sequence sample is a list of chunks (each chunk a list of ids; metadata has one chunk per
key-value pair, every other sequence one chunk), which is the form masking needs for chunk-aware
span corruption. Arrays are loaded memory-mapped, so opening a large store is instant.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

RawSample = dict[str, Any]


def _id_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= np.iinfo(np.uint16).max + 1 else np.dtype(np.int32)


class TokenStore:
    """One split of a pre-tokenized dataset, indexable by sample row."""

    def __init__(self, keys: Sequence[str], grids: Mapping[str, np.ndarray],
                 sequences: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
        self.keys = list(keys)
        self.grids = dict(grids)
        self.sequences = dict(sequences)
        for name, arr in self.grids.items():
            if len(arr) != len(self.keys):
                raise ValueError(f"modality {name!r} has {len(arr)} rows for {len(self.keys)} keys")
        for name, (_, _, samples) in self.sequences.items():
            if len(samples) != len(self.keys) + 1:
                raise ValueError(f"modality {name!r} has {len(samples) - 1} samples for {len(self.keys)} keys")

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def modalities(self) -> list[str]:
        return [*self.grids, *self.sequences]

    def sequence_chunks(self, name: str, row: int) -> list[np.ndarray]:
        ids, chunks, samples = self.sequences[name]
        bounds = chunks[samples[row] : samples[row + 1] + 1]
        return [np.asarray(ids[a:b], dtype=np.int64) for a, b in itertools.pairwise(bounds)]

    def __getitem__(self, row: int) -> RawSample:
        """Sample ``row``: grids as arrays, sequences as lists of id chunks."""
        out: RawSample = {name: np.asarray(arr[row]) for name, arr in self.grids.items()}
        out.update({name: self.sequence_chunks(name, row) for name in self.sequences})
        return out

    @classmethod
    def from_samples(cls, keys: Sequence[str], samples: Sequence[RawSample],
                     vocab_sizes: Mapping[str, int]) -> TokenStore:
        """Build from per-sample dicts (grids: arrays; sequences: lists of chunks)."""
        if len(keys) != len(samples):
            raise ValueError(f"{len(keys)} keys for {len(samples)} samples")
        names = list(samples[0]) if samples else []
        grids: dict[str, np.ndarray] = {}
        sequences: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for name in names:
            first = samples[0][name]
            if isinstance(first, list):
                chunks = [np.asarray(c, dtype=np.int64) for s in samples for c in s[name]]
                per_sample = np.cumsum([0] + [len(s[name]) for s in samples])
                lengths = np.cumsum([0] + [len(c) for c in chunks])
                flat = np.concatenate(chunks) if chunks else np.zeros(0, np.int64)
                dtype = _id_dtype(vocab_sizes.get(name, 2**31))
                sequences[name] = (flat.astype(dtype), lengths.astype(np.int64), per_sample.astype(np.int64))
            else:
                arr = np.stack([np.asarray(s[name]) for s in samples])
                if np.issubdtype(arr.dtype, np.integer) and vocab_sizes.get(name, 0) > 0:
                    arr = arr.astype(_id_dtype(vocab_sizes[name]))
                grids[name] = arr
        return cls(keys, grids, sequences)

    def save(self, directory: str | Path) -> None:
        """Write this split into ``directory`` (files are written under temporary names first)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)

        def put(path: Path, arr: np.ndarray) -> None:
            tmp = path.with_name(path.name + ".tmp.npy")
            np.save(tmp, arr)
            tmp.replace(path)

        for name, arr in self.grids.items():
            put(directory / f"{name}.npy", arr)
        for name, (ids, chunks, samples) in self.sequences.items():
            put(directory / f"{name}.ids.npy", ids)
            put(directory / f"{name}.chunks.npy", chunks)
            put(directory / f"{name}.samples.npy", samples)
        (directory / "keys.json").write_text(json.dumps(self.keys))

    @classmethod
    def load(cls, directory: str | Path) -> TokenStore:
        """Open a split written by :meth:`save` (arrays memory-mapped)."""
        directory = Path(directory)
        keys_file = directory / "keys.json"
        if not keys_file.is_file():
            raise FileNotFoundError(f"{directory} is not a pre-tokenized split (no keys.json)")
        keys = json.loads(keys_file.read_text())
        grids, sequences = {}, {}
        for path in sorted(directory.glob("*.npy")):
            stem = path.name[: -len(".npy")]
            if stem.endswith(".ids"):
                name = stem[: -len(".ids")]
                sequences[name] = tuple(
                    np.load(directory / f"{name}.{part}.npy", mmap_mode="r") for part in ("ids", "chunks", "samples")
                )
            elif not stem.endswith((".chunks", ".samples")):
                grids[stem] = np.load(path, mmap_mode="r")
        return cls(keys, grids, sequences)
