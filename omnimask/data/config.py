"""Where training samples come from: the data section of a run's configuration."""

from __future__ import annotations

import dataclasses
from typing import Literal, get_args

from omnimask.config import ConfigError
from omnimask.data.synthworld.transfer import TRANSFER_TASKS

#: The names of the data sources (their table: :data:`omnimask.data.sources.SOURCES`).
SourceName = Literal["synth", "synth_live", "store", "shards"]
SOURCE_NAMES: tuple[str, ...] = get_args(SourceName)


@dataclasses.dataclass(kw_only=True)
class DataConfig:
    """Data of a training run.

    Sources:
        ``synth``: SynthWorld scenes ``0 .. num_train-1`` (seed ``synth_seed``), rendered and tokenized
            once at start-up into an in-memory pre-tokenized store (cached under ``<out_dir>/data``);
        ``synth_live``: the same scenes rendered and tokenized on the fly in the loader workers;
        ``store``: a pre-tokenized store written by ``omnimask pretokenize`` at ``path``;
        ``shards``: per-modality tar shard sets written by ``omnimask shard`` (``path/train``,
            optional ``path/val``), streamed from a folder, any fsspec URL (``s3://bucket/data``) or a
            ``pipe:`` command with a ``{file}`` placeholder (``pipe:aws s3 cp s3://bucket/data/{file} -``).

    Mixtures: ``paths`` (instead of ``path``) names several stores or shard datasets; each sample is
    drawn from one of them with probability ``weights`` (default equal). Validation and tokenizers
    come from the first. Shard streams draw shards with replacement (``resampled``) and shuffle
    through a buffer of ``shuffle_buffer`` samples per loader worker.

    Labels: ``task`` names the task whose label every sample carries, for a fine-tuning head: with
    ``source=synth`` a SynthWorld transfer task computed exactly from each scene
    (:data:`omnimask.data.synthworld.transfer.TRANSFER_TASKS`); with ``source=store`` any name whose
    labels a user wrote to ``<store>/<split>/labels/<task>.npy``.

    Image tokenizers: ``kmeans`` fits the k-means stand-in on ``fit_samples`` training scenes;
    ``shipped`` loads the trained bundle shipped for the resolution (``omnimask/assets/tokenizers/
    synthworld64``); otherwise ``tokenizers`` names a bundle folder (``manifest.json`` + one tokenizer
    per modality). The text
    tokenizer is ``text_tokenizer`` (a ``tokenizer.json`` or its folder) or, when empty, a WordPiece
    vocabulary trained on the captions of the training scenes.
    """

    source: SourceName = "synth"
    path: str = ""
    resolution: int = 64
    num_train: int = 2048
    num_val: int = 64
    synth_seed: int = 0
    tokenizers: str = "kmeans"
    fit_samples: int = 256
    text_tokenizer: str = ""
    num_workers: int = 0
    paths: list[str] = dataclasses.field(default_factory=list)
    weights: list[float] = dataclasses.field(default_factory=list)
    resampled: bool = True
    shuffle_buffer: int = 1000
    task: str = ""

    def __post_init__(self) -> None:
        if self.source not in SOURCE_NAMES:
            raise ConfigError(f"data.source: {self.source!r} is not one of {list(SOURCE_NAMES)}")
        if self.source in ("store", "shards"):
            if bool(self.path) == bool(self.paths):
                writer = "omnimask pretokenize" if self.source == "store" else "omnimask shard"
                raise ConfigError(f"data.source={self.source} needs data.path=<folder written by {writer}> "
                                  "or data.paths=[several, to mix] (not both)")
        elif self.paths:
            raise ConfigError(f"data.paths mixes stores or shard sets; data.source={self.source} takes none")
        if self.weights and len(self.weights) != len(self.paths):
            raise ConfigError(f"data.weights has {len(self.weights)} entries for {len(self.paths)} data.paths")
        if any(w < 0 for w in self.weights) or (self.weights and sum(self.weights) <= 0):
            raise ConfigError(f"data.weights must be >= 0 and not all 0, got {self.weights}")
        if self.shuffle_buffer < 0:
            raise ConfigError(f"data.shuffle_buffer must be >= 0, got {self.shuffle_buffer}")
        if self.task and self.source not in ("synth", "store"):
            raise ConfigError(f"data.task: labels come with data.source=synth or store, not {self.source}")
        if self.task and self.source == "synth" and self.task not in TRANSFER_TASKS:
            raise ConfigError(f"data.task: {self.task!r} is not a SynthWorld transfer task; choose one of "
                              f"{sorted(TRANSFER_TASKS)} (or write labels beside a store: data.source=store)")
        if self.num_workers < 0:
            raise ConfigError(f"data.num_workers must be >= 0 (0: load in the training process), "
                              f"got {self.num_workers}")
        if self.resolution < 1:
            raise ConfigError(f"data.resolution must be >= 1, got {self.resolution}")
        if self.num_train < 1 or self.num_val < 0:
            raise ConfigError("data.num_train must be >= 1 and data.num_val >= 0")
