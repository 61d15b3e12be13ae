"""Building a run's live objects from its configuration: the model and the data stream.

The data side opens ``cfg.data``'s training and validation sources (the source table of
:mod:`omnimask.data.sources`), wraps them in the deterministic sample stream of
:mod:`omnimask.data.stream` (indexable sources, split over ranks by :class:`RankBlockSampler`) or of
:mod:`omnimask.data.stream_samples` (shard streams and their mixtures) with 4M masking, and collates
batches.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from omnimask.batch import LABEL_KEY, Batch, label_batch
from omnimask.config import ConfigError
from omnimask.data.sources import open_sources
from omnimask.data.stream import IndexedSamples, RankBlockSampler, SampleSource, batches
from omnimask.data.stream_samples import StreamSamples, StreamSource
from omnimask.data.transforms import model_inputs
from omnimask.masking import Masker, WholeInputs, collate
from omnimask.modalities import ModalitySpec, select
from omnimask.model import FourM
from omnimask.model.heads import TaskModel, TaskModelConfig
from omnimask.training.transfer import LoadReport, add_lora, freeze, init_from

#: Seed offset of the validation stream, so it never coincides with training draws.
VAL_SEED_OFFSET = 10_007


def build_model(cfg: Any) -> tuple[FourM | TaskModel, LoadReport | None]:
    """The model of a run and, with ``cfg.init_from``, the report of what was loaded into it.

    A FourM of ``cfg.model`` (initialised from ``cfg.model.init_seed``) or, with a head, a TaskModel;
    then the pretrained tensors, the frozen parameters and the LoRA adapters of the config.
    """
    model: FourM | TaskModel = FourM(cfg.model) if cfg.head.kind == "none" else TaskModel(
        TaskModelConfig(model=cfg.model, head=cfg.head))
    report = init_from(model, cfg.init_from) if cfg.init_from else None
    if cfg.lora.rank:
        add_lora(model, cfg.lora, trainable=["head.*"] if cfg.head.kind != "none" else [])
    if cfg.freeze:
        freeze(model, cfg.freeze, report)
    return model, report


def _mask_one(raw: dict, rng: np.random.Generator, masker: Masker, specs: Mapping[str, ModalitySpec]) -> Any:
    masked = masker(model_inputs(raw, specs), rng)
    if LABEL_KEY in raw:
        masked[LABEL_KEY] = raw[LABEL_KEY]
    return masked


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
        batch = collate(items, self.specs)
        if LABEL_KEY in items[0]:
            batch[LABEL_KEY] = label_batch(torch.from_numpy(np.stack([item[LABEL_KEY] for item in items])))
        return batch

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


def data_specs(cfg: Any) -> dict[str, ModalitySpec]:
    """The modalities the run's samples hold, after checking that ``cfg.data`` fits the model (raises
    :class:`ConfigError`; cheap, so ``omnimask train`` calls it before it writes anything).

    With a task head: only the head's inputs.
    """
    specs = cfg.model.specs()
    if cfg.head.kind != "none":
        specs = select(specs, cfg.head.inputs or cfg.model.inputs or list(specs))
        if not cfg.data.task:
            raise ConfigError(f"head.kind={cfg.head.kind} needs labels: set data.task (e.g. {cfg.head.task!r})")
    if cfg.data.source in ("synth", "synth_live"):  # rendered at data.resolution: it must be the model's
        sizes = {n: s.image_size[0] for n, s in specs.items() if s.image_size}
        wrong = {n: px for n, px in sizes.items() if px != cfg.data.resolution}
        if wrong:
            raise ConfigError(f"data.resolution={cfg.data.resolution} does not match the model's image modalities "
                              f"{wrong} (pixels); set data.resolution to theirs")
    return specs


def build_data(cfg: Any) -> TrainingData:
    """Resolve ``cfg.data`` into the training and validation streams (sources: :mod:`omnimask.data.sources`).

    With a task head the samples hold only the head's inputs, given whole (:class:`WholeInputs`), and
    their labels.
    """
    specs = data_specs(cfg)
    sources = open_sources(cfg.data, specs, cfg.out_dir, cfg.seed)
    masker = WholeInputs(specs) if cfg.head.kind != "none" else Masker(specs, cfg.masking)
    return TrainingData(sources.train, sources.val, specs, masker, cfg.seed, cfg.data.num_workers,
                        sources.tokenizer_dir)
