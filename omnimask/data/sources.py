"""Where training samples come from: one table of data sources, keyed by ``data.source``.

Each source turns the data section of a run's configuration (:class:`~omnimask.data.config.DataConfig`)
into a training and a validation source of raw token samples plus the tokenizer bundle that made them
(:class:`DataSources`). Masking and batching happen downstream (:mod:`omnimask.training.setup`), so a
new source — a folder of labelled photos, a remote store — is one function and one row of
:data:`SOURCES`, in ``data/`` only.

* ``synth``: SynthWorld scenes rendered and tokenized once into in-memory stores, cached under
  ``<out_dir>/data`` behind a fingerprint of everything that changes them; with ``data.task`` each
  sample also carries the label of that transfer task (:mod:`omnimask.data.synthworld.transfer`);
* ``synth_live``: the same scenes rendered and tokenized on the fly;
* ``store``: pre-tokenized stores written by ``omnimask pretokenize`` (several: a mixture); with
  ``data.task`` the labels are read from ``<split>/labels/<task>.npy`` (:func:`label_path`);
* ``shards``: tar shard sets written by ``omnimask shard``, streamed (several: a weighted mixture).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from omnimask.batch import LABEL_KEY
from omnimask.config import ConfigError, to_dict
from omnimask.data.config import DataConfig, SourceName
from omnimask.data.mixture_source import MixtureSource, MixtureStream
from omnimask.data.shard_reader import ShardSet, ShardSource
from omnimask.data.shards import TOKEN_EXTS, sublocation
from omnimask.data.stream import SampleSource
from omnimask.data.stream_samples import StreamSource
from omnimask.data.synth_tokens import SynthTokenSource, fit_synth_tokenizer, render_range
from omnimask.data.synthworld import SynthWorldConfig
from omnimask.data.synthworld.transfer import TRANSFER_TASKS, transfer_labels
from omnimask.data.token_store import TokenStore
from omnimask.data.tokenize import SampleTokenizer, pretokenize_samples
from omnimask.files import TOKENIZERS_DIR, atomic_path, write_text
from omnimask.modalities import ModalitySpec
from omnimask.tokenizers.bundle import shipped_bundle_path
from omnimask.tokenizers.text import TextTokenizer


@dataclasses.dataclass
class DataSources:
    """The raw token samples of a run: training source, validation source (or None), their tokenizers."""

    train: SampleSource | StreamSource
    val: SampleSource | StreamSource | None
    tokenizer_dir: Path | None


def _synth_fingerprint(data: DataConfig, specs: Mapping[str, ModalitySpec]) -> str:
    desc = {"data": to_dict(data), "specs": {n: to_dict(s) for n, s in specs.items()}}
    for name in ("num_workers", "paths", "weights", "resampled", "shuffle_buffer"):  # no effect on SynthWorld
        desc["data"].pop(name)
    task = desc["data"].pop("task")  # every transfer task's labels are written, so any task shares the cache
    if task:
        desc["labels"] = sorted(TRANSFER_TASKS)
    return hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()[:16]


def _synth_tokenizer(data: DataConfig, specs: Mapping[str, ModalitySpec], world: SynthWorldConfig) -> SampleTokenizer:
    if not any(s.is_discrete for s in specs.values()):
        return SampleTokenizer(specs, {})  # pixels only: nothing to tokenize
    if data.tokenizers == "shipped":
        return SampleTokenizer.load(shipped_bundle_path(f"synthworld{data.resolution}"), specs)
    if data.tokenizers != "kmeans":
        return SampleTokenizer.load(data.tokenizers, specs)
    fit = render_range(data.synth_seed, 0, min(data.fit_samples, data.num_train), world, desc="render (fit)")
    text = TextTokenizer.from_file(data.text_tokenizer) if data.text_tokenizer else None
    return fit_synth_tokenizer(specs, fit, text=text, seed=data.synth_seed)


class LabelledSource:
    """A sample source whose samples also carry a task label under :data:`~omnimask.batch.LABEL_KEY`."""

    def __init__(self, source: SampleSource, labels: np.ndarray) -> None:
        if len(labels) != len(source):
            raise ValueError(f"{len(labels)} labels for {len(source)} samples")
        self.source, self.labels = source, labels

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, row: int) -> dict[str, Any]:
        return {**self.source[row], LABEL_KEY: self.labels[row]}


def label_path(split_dir: Path, task: str) -> Path:
    """Where the labels of ``task`` for one split of a store live: ``<split>/labels/<task>.npy`` (S, ...)."""
    return split_dir / "labels" / f"{task}.npy"


def _labelled(store: TokenStore, split_dir: Path, task: str) -> SampleSource:
    """``store`` with the labels of ``task`` (an error naming the file when they are missing)."""
    if not task:
        return store
    path = label_path(split_dir, task)
    if not path.is_file():
        raise ConfigError(f"data.task={task}: no labels at {path}; write an (S, ...) array there, row i for "
                          f"sample i of {split_dir}")
    return LabelledSource(store, np.load(path))


def _save_labels(scenes: Sequence[Mapping[str, Any]], split_dir: Path) -> None:
    """The labels of every SynthWorld transfer task for ``scenes``, one ``.npy`` per task."""
    for task in TRANSFER_TASKS:
        with atomic_path(label_path(split_dir, task)) as tmp, open(tmp, "wb") as f:
            np.save(f, np.stack([transfer_labels(s, task) for s in scenes]))


def synth_stores(data: DataConfig, specs: Mapping[str, ModalitySpec], cache: Path) -> tuple[SampleSource, SampleSource]:
    """Pre-tokenized training and validation stores of SynthWorld scenes (cached in ``cache``, laid out
    as a ``store`` source reads it), with the labels of every transfer task when ``data.task`` is set."""
    stamp = cache / "fingerprint.txt"
    fingerprint = _synth_fingerprint(data, specs)
    if not (stamp.is_file() and stamp.read_text() == fingerprint):
        stamp.unlink(missing_ok=True)  # removed first, written last: a crash mid-rebuild is never trusted
        world = SynthWorldConfig(resolution=data.resolution)
        tokenizer = _synth_tokenizer(data, specs, world)
        for split, start, num in (("train", 0, data.num_train), ("val", data.num_train, data.num_val)):
            scenes = render_range(data.synth_seed, start, num, world, f"render ({split})")
            pretokenize_samples(tokenizer, scenes).save(cache / split)
            if data.task:
                _save_labels(scenes, cache / split)
        tokenizer.save(cache / TOKENIZERS_DIR)
        write_text(stamp, fingerprint)
    train, val = (_labelled(TokenStore.load(cache / split), cache / split, data.task) for split in ("train", "val"))
    return train, val


def _token_shards(location: str, specs: Mapping[str, ModalitySpec]) -> ShardSet:
    shards = ShardSet.open(location, specs)
    raw = {m: e for m, e in shards.modalities.items() if e not in TOKEN_EXTS}
    if raw:
        raise ConfigError(f"{location} stores {raw} as raw files; training reads tokens: shard a pre-tokenized "
                          "store (omnimask pretokenize, then omnimask shard)")
    return shards


def _vocab(shards: ShardSet, specs: Mapping[str, ModalitySpec]) -> dict[str, int]:
    """Vocabulary sizes of the discrete modalities a shard set holds (ids are checked against them)."""
    return {m: specs[m].vocab_size for m in shards.modalities if m in specs and specs[m].is_discrete}


def _shards(data: DataConfig, specs: Mapping[str, ModalitySpec], out_dir: Path, seed: int) -> DataSources:
    """Training stream (one shard dataset or a weighted mixture), validation stream and tokenizer folder."""
    roots = data.paths or [data.path]
    trains = [ShardSource(shards, data.resampled, data.shuffle_buffer, vocab=_vocab(shards, specs))
              for shards in (_token_shards(sublocation(r, "train"), specs) for r in roots)]
    train = trains[0] if len(trains) == 1 else MixtureStream(trains, data.weights)
    try:
        val_set = _token_shards(sublocation(roots[0], "val"), specs)
    except FileNotFoundError:
        val_set = None
    val = (ShardSource(val_set, resampled=False, shuffle_buffer=0, epochs=1, vocab=_vocab(val_set, specs))
           if val_set is not None else None)
    local = Path(roots[0]) / TOKENIZERS_DIR
    return DataSources(train, val, local if "://" not in roots[0] and local.is_dir() else None)


def _stores(data: DataConfig, specs: Mapping[str, ModalitySpec], out_dir: Path, seed: int) -> DataSources:
    """Pre-tokenized stores: one, or a mixture drawn with ``data.weights`` (validation from the first)."""
    roots = [Path(p) for p in data.paths or [data.path]]
    stores = [_labelled(TokenStore.load(root / "train"), root / "train", data.task) for root in roots]
    train = stores[0] if len(stores) == 1 else MixtureSource(stores, data.weights, seed=seed)
    val_dir = roots[0] / "val"
    val = _labelled(TokenStore.load(val_dir), val_dir, data.task) if val_dir.is_dir() else None
    tokenizers = roots[0] / TOKENIZERS_DIR
    return DataSources(train, val, tokenizers if tokenizers.is_dir() else None)


def _synth(data: DataConfig, specs: Mapping[str, ModalitySpec], out_dir: Path, seed: int) -> DataSources:
    """SynthWorld scenes, pre-tokenized once and cached in ``out_dir/data``."""
    train, val = synth_stores(data, specs, out_dir / "data")
    return DataSources(train, val, out_dir / "data" / TOKENIZERS_DIR)


def _synth_live(data: DataConfig, specs: Mapping[str, ModalitySpec], out_dir: Path, seed: int) -> DataSources:
    """SynthWorld scenes rendered and tokenized on access (the tokenizers are saved to ``out_dir``)."""
    world = SynthWorldConfig(resolution=data.resolution)
    tokenizer = _synth_tokenizer(data, specs, world)
    tokenizer.save(out_dir / TOKENIZERS_DIR)
    train = SynthTokenSource(tokenizer, data.num_train, data.synth_seed, world)
    val = SynthTokenSource(tokenizer, data.num_val, data.synth_seed, world, offset=data.num_train)
    return DataSources(train, val, out_dir / TOKENIZERS_DIR)


#: ``data.source`` → the function opening it (data config, modality specs, run folder, run seed).
SOURCES: dict[SourceName, Callable[[DataConfig, Mapping[str, ModalitySpec], Path, int], DataSources]] = {
    "synth": _synth,
    "synth_live": _synth_live,
    "store": _stores,
    "shards": _shards,
}


def open_sources(data: DataConfig, specs: Mapping[str, ModalitySpec], out_dir: str | Path,
                 seed: int = 0) -> DataSources:
    """The training and validation sources of ``data`` for the modalities in ``specs``."""
    return SOURCES[data.source](data, specs, Path(out_dir), seed)
