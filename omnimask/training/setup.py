"""Building a run's live objects from its configuration: the model and the data stream.

The data side resolves ``cfg.data`` into a training and a validation source (see
:class:`omnimask.data.config.DataConfig`), wraps them in the deterministic sample stream of
:mod:`omnimask.data.stream` (indexable sources, split over ranks by :class:`RankBlockSampler`) or of
:mod:`omnimask.data.stream_samples` (shard streams and their mixtures) with 4M masking, and collates
batches.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from collections.abc import Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import DataLoader

from omnimask.batch import Batch
from omnimask.config import ConfigError, to_dict
from omnimask.data.config import DataConfig
from omnimask.data.mixture_source import MixtureSource, MixtureStream
from omnimask.data.shard_reader import ShardSet, ShardSource
from omnimask.data.shards import TOKEN_EXTS, sublocation
from omnimask.data.stream import IndexedSamples, RankBlockSampler, SampleSource, batches
from omnimask.data.stream_samples import StreamSamples, StreamSource
from omnimask.data.synth_tokens import (
    SynthTokenizer,
    SynthTokenSource,
    model_inputs,
    pretokenize_synth,
    render_range,
)
from omnimask.data.synthworld import SynthWorldConfig
from omnimask.data.token_store import TokenStore
from omnimask.masking import Masker, collate
from omnimask.modalities import ModalitySpec
from omnimask.model import FourM
from omnimask.tokenizers.bundle import shipped_bundle_path
from omnimask.tokenizers.text import TextTokenizer

#: Seed offset of the validation stream, so it never coincides with training draws.
VAL_SEED_OFFSET = 10_007


def build_model(cfg: Any) -> FourM:
    """The FourM of ``cfg.model`` (initialised from ``cfg.model.init_seed``)."""
    return FourM(cfg.model)


def _mask_one(raw: dict, rng: np.random.Generator, masker: Masker, specs: Mapping[str, ModalitySpec]) -> Any:
    return masker(model_inputs(raw, specs), rng)


@dataclasses.dataclass
class TrainingData:
    """Training and validation streams of masked, collated batches."""

    train_source: SampleSource | StreamSource
    val_source: SampleSource | StreamSource | None
    specs: dict[str, ModalitySpec]
    masker: Masker
    seed: int
    num_workers: int = 0
    tokenizer_dir: Path | None = None

    @property
    def tokens_per_sample(self) -> int:
        return self.masker.cfg.num_input_tokens + self.masker.cfg.num_target_tokens

    def _dataset(self, source: SampleSource, seed: int, shuffle: bool) -> IndexedSamples:
        return IndexedSamples(source, partial(_mask_one, masker=self.masker, specs=self.specs), seed, shuffle)

    def _collate(self, items: list) -> Batch:
        return collate(items, self.specs)

    def _stream(self, source: StreamSource, seed: int, batch_size: int, start_sample: int = 0, rank: int = 0,
                world_size: int = 1, num_workers: int = 0) -> Iterator[Batch]:
        mask = partial(_mask_one, masker=self.masker, specs=self.specs)
        ds = StreamSamples(source, mask, seed, start_sample, rank, world_size)
        return iter(DataLoader(ds, batch_size=batch_size, collate_fn=self._collate, num_workers=num_workers,
                               prefetch_factor=4 if num_workers else None))

    def train_batches(self, start_sample: int, batch_size: int, rank: int = 0, world_size: int = 1,
                      grad_accum: int = 1) -> Iterator[Batch]:
        """Endless training micro-batches of ``rank`` from global sample ``start_sample`` on (see
        :class:`RankBlockSampler`; a streaming source gives each rank and worker its own stream)."""
        if isinstance(self.train_source, StreamSource):
            return self._stream(self.train_source, self.seed, batch_size, start_sample, rank, world_size,
                                self.num_workers)
        ds = self._dataset(self.train_source, self.seed, shuffle=True)
        sampler = RankBlockSampler(batch_size, start_sample, rank, world_size, grad_accum)
        workers = self.num_workers
        return iter(DataLoader(ds, batch_sampler=sampler, collate_fn=self._collate, num_workers=workers,
                               prefetch_factor=4 if workers else None))

    def val_batches(self, batch_size: int, num_batches: int) -> Iterator[Batch]:
        """The same fixed validation batches every time (empty without a validation source)."""
        if self.val_source is None or num_batches == 0:
            return iter(())
        if isinstance(self.val_source, StreamSource):
            return itertools.islice(self._stream(self.val_source, self.seed + VAL_SEED_OFFSET, batch_size), num_batches)
        ds = self._dataset(self.val_source, self.seed + VAL_SEED_OFFSET, shuffle=False)
        return batches(ds, self._collate, batch_size, 0, num_batches=num_batches)


def _synth_fingerprint(data: DataConfig, specs: Mapping[str, ModalitySpec]) -> str:
    desc = {"data": to_dict(data), "specs": {n: to_dict(s) for n, s in specs.items()}}
    for name in ("num_workers", "paths", "weights", "resampled", "shuffle_buffer"):  # no effect on SynthWorld
        desc["data"].pop(name)
    return hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()[:16]


def _synth_tokenizer(data: DataConfig, specs: Mapping[str, ModalitySpec], world: SynthWorldConfig) -> SynthTokenizer:
    if data.tokenizers == "shipped":
        return SynthTokenizer.load(shipped_bundle_path(f"synthworld{data.resolution}"), specs)
    if data.tokenizers != "kmeans":
        return SynthTokenizer.load(data.tokenizers, specs)
    fit = render_range(data.synth_seed, 0, min(data.fit_samples, data.num_train), world, desc="render (fit)")
    text = TextTokenizer.from_file(data.text_tokenizer) if data.text_tokenizer else None
    return SynthTokenizer.fit(specs, fit, text=text, seed=data.synth_seed)


def synth_stores(data: DataConfig, specs: Mapping[str, ModalitySpec], cache: Path) -> tuple[TokenStore, TokenStore]:
    """Pre-tokenized training and validation stores of SynthWorld scenes (cached in ``cache``)."""
    stamp = cache / "fingerprint.txt"
    fingerprint = _synth_fingerprint(data, specs)
    if stamp.is_file() and stamp.read_text() == fingerprint:
        return TokenStore.load(cache / "train"), TokenStore.load(cache / "val")
    world = SynthWorldConfig(resolution=data.resolution)
    tokenizer = _synth_tokenizer(data, specs, world)
    train = pretokenize_synth(tokenizer, render_range(data.synth_seed, 0, data.num_train, world, "render (train)"))
    val_scenes = render_range(data.synth_seed, data.num_train, data.num_val, world, "render (val)")
    val = pretokenize_synth(tokenizer, val_scenes)
    tokenizer.save(cache / "tokenizers")
    train.save(cache / "train")
    val.save(cache / "val")
    stamp.write_text(fingerprint)
    return train, val


def _token_shards(location: str, specs: Mapping[str, ModalitySpec]) -> ShardSet:
    shards = ShardSet.open(location, specs)
    raw = {m: e for m, e in shards.modalities.items() if e not in TOKEN_EXTS}
    if raw:
        raise ConfigError(f"{location} stores {raw} as raw files; training reads tokens: shard a pre-tokenized "
                          "store (omnimask pretokenize, then omnimask shard)")
    return shards


def shard_sources(data: DataConfig, specs: Mapping[str, ModalitySpec]
                  ) -> tuple[StreamSource, StreamSource | None, Path | None]:
    """Training stream (one shard dataset or a weighted mixture), validation stream and tokenizer folder."""
    roots = data.paths or [data.path]
    trains = [ShardSource(_token_shards(sublocation(r, "train"), specs), data.resampled, data.shuffle_buffer)
              for r in roots]
    train = trains[0] if len(trains) == 1 else MixtureStream(trains, data.weights)
    try:
        val_set = _token_shards(sublocation(roots[0], "val"), specs)
    except FileNotFoundError:
        val_set = None
    val = ShardSource(val_set, resampled=False, shuffle_buffer=0, epochs=1) if val_set is not None else None
    local = Path(roots[0]) / "tokenizers"
    return train, val, local if "://" not in roots[0] and local.is_dir() else None


def build_data(cfg: Any) -> TrainingData:
    """Resolve ``cfg.data`` into the training and validation streams."""
    data: DataConfig = cfg.data
    specs = cfg.model.specs()
    masker = Masker(specs, cfg.masking)
    tokenizer_dir: Path | None
    if data.source == "store":
        roots = [Path(p) for p in data.paths or [data.path]]
        stores = [TokenStore.load(root / "train") for root in roots]
        train: SampleSource | StreamSource = (
            stores[0] if len(stores) == 1 else MixtureSource(stores, data.weights, seed=cfg.seed)
        )
        val: SampleSource | StreamSource | None = (
            TokenStore.load(roots[0] / "val") if (roots[0] / "val").is_dir() else None
        )
        tokenizer_dir = roots[0] / "tokenizers" if (roots[0] / "tokenizers").is_dir() else None
    elif data.source == "shards":
        train, val, tokenizer_dir = shard_sources(data, specs)
    elif data.source == "synth":
        train, val = synth_stores(data, specs, Path(cfg.out_dir) / "data")
        tokenizer_dir = Path(cfg.out_dir) / "data" / "tokenizers"
    else:
        world = SynthWorldConfig(resolution=data.resolution)
        tokenizer = _synth_tokenizer(data, specs, world)
        tokenizer_dir = Path(cfg.out_dir) / "tokenizers"
        tokenizer.save(tokenizer_dir)
        train = SynthTokenSource(tokenizer, data.num_train, data.synth_seed, world)
        val = SynthTokenSource(tokenizer, data.num_val, data.synth_seed, world, offset=data.num_train)
    return TrainingData(train, val, specs, masker, cfg.seed, data.num_workers, tokenizer_dir)
