"""Where training samples come from: the data section of a run's configuration."""

from __future__ import annotations

import dataclasses

from omnimask.config import ConfigError

SOURCES = ("synth", "synth_live", "store")


@dataclasses.dataclass(kw_only=True)
class DataConfig:
    """Data of a training run.

    Sources:
        ``synth``: SynthWorld scenes ``0 .. num_train-1`` (seed ``synth_seed``), rendered and tokenized
            once at start-up into an in-memory pre-tokenized store (cached under ``<out_dir>/data``);
        ``synth_live``: the same scenes rendered and tokenized on the fly in the loader workers;
        ``store``: a pre-tokenized store written by ``omnimask pretokenize`` at ``path``.

    Image tokenizers: ``kmeans`` fits the k-means stand-in on ``fit_samples`` training scenes;
    otherwise ``tokenizers`` names a folder with one tokenizer checkpoint per modality. The text
    tokenizer is ``text_tokenizer`` (a ``tokenizer.json`` or its folder) or, when empty, a WordPiece
    vocabulary trained on the captions of the training scenes.
    """

    source: str = "synth"
    path: str = ""
    resolution: int = 64
    num_train: int = 2048
    num_val: int = 64
    synth_seed: int = 0
    tokenizers: str = "kmeans"
    fit_samples: int = 256
    text_tokenizer: str = ""
    num_workers: int = 0

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ConfigError(f"data.source: {self.source!r} is not one of {list(SOURCES)}")
        if self.source == "store" and not self.path:
            raise ConfigError("data.source=store needs data.path=<folder written by omnimask pretokenize>")
        if self.num_train < 1 or self.num_val < 0:
            raise ConfigError("data.num_train must be >= 1 and data.num_val >= 0")
