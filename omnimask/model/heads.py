"""Task heads on a pretrained 4M encoder: 4M's transfer to tasks pre-training never saw.

A :class:`TaskModel` is a :class:`~omnimask.model.FourM` (its encoder, fed whole input modalities)
plus one head from :data:`HEADS`, keyed by the task type of :class:`HeadConfig`:

* ``classification`` / ``regression`` — image-level: the encoder tokens are mean-pooled (B, D), then
  LayerNorm + Linear → (B, C) logits (cross-entropy) or (B, C) values (mean squared error);
* ``segmentation`` / ``dense_regression`` — per pixel: the encoder tokens of every grid input are
  summed position by position into an (B, D, h, w) map, a light decoder (3×3 conv, GELU, pixel
  shuffle up to the image size) gives (B, C, H, W) logits or (B, 1, H, W) values.

The fourth way, "the task as a new 4M target modality", needs no head: add the modality (and its
tokenizer) to the model config and fine-tune with the 4M objective (``head.kind = "none"``).

Labels travel in the batch under :data:`~omnimask.batch.LABEL_KEY` (a :class:`ModalityBatch` whose
tensor holds (B,) class ids, (B, C) values, (B, H, W) class maps or (B, H, W) value maps).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from omnimask.batch import LABEL_KEY, Batch
from omnimask.config import ConfigError
from omnimask.metrics import confusion_matrix, mean_iou
from omnimask.model.config import ModelConfig
from omnimask.model.fourm import EncoderState, FourM, FourMOutput

HeadKind = Literal["none", "classification", "regression", "segmentation", "dense_regression"]


@dataclasses.dataclass(kw_only=True)
class HeadConfig:
    """The head of a fine-tuning run (``kind = "none"``: no head, the 4M objective).

    Attributes:
        kind: task type, a key of :data:`HEADS` (or ``none``).
        task: name of the task (its labels; e.g. a SynthWorld transfer task).
        inputs: modality names given whole to the encoder (empty: every input of the model).
        num_classes: classes of ``classification`` / ``segmentation``.
        out_dim: values per sample of ``regression`` (dense regression predicts one value per pixel).
        image_size: side in pixels of dense outputs.
    """

    kind: HeadKind = "none"
    task: str = ""
    inputs: list[str] = dataclasses.field(default_factory=list)
    num_classes: int = 0
    out_dim: int = 0
    image_size: int = 64

    def __post_init__(self) -> None:
        if self.kind == "none":
            return
        if not self.task:
            raise ConfigError(f"head.task: a {self.kind} head needs the name of its task")
        if self.kind in ("classification", "segmentation") and self.num_classes < 2:
            raise ConfigError(f"head.num_classes: a {self.kind} head needs >= 2 classes, got {self.num_classes}")
        if self.kind == "regression" and self.out_dim < 1:
            raise ConfigError(f"head.out_dim: a regression head needs >= 1 output, got {self.out_dim}")
        if self.image_size < 1:
            raise ConfigError(f"head.image_size must be >= 1, got {self.image_size}")

    @property
    def outputs(self) -> int:
        """Channels the head predicts (classes, or values)."""
        if self.kind in ("classification", "segmentation"):
            return self.num_classes
        return self.out_dim if self.kind == "regression" else 1


@dataclasses.dataclass(kw_only=True)
class TaskModelConfig:
    """A 4M backbone and its task head: everything needed to rebuild a :class:`TaskModel`."""

    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    head: HeadConfig = dataclasses.field(default_factory=HeadConfig)

    def __post_init__(self) -> None:
        if self.head.kind == "none":
            raise ConfigError("a TaskModel needs a head: set head.kind")


def masked_mean(hidden: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """(B, N, D) tokens, (B, N) bool keep → (B, D) mean over the kept tokens."""
    weights = keep.to(hidden.dtype)[..., None]  # (B, N, 1)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)


class PooledHead(nn.Module):
    """Image-level head: mean-pooled encoder tokens → LayerNorm → Linear → (B, C)."""

    def __init__(self, dim: int, cfg: HeadConfig, grid: tuple[int, int]) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.proj = nn.Linear(dim, cfg.outputs)

    def forward(self, state: EncoderState, grid_tokens: torch.Tensor) -> torch.Tensor:
        return self.proj(self.norm(masked_mean(state.hidden, state.keep)))


class DenseHead(nn.Module):
    """Per-pixel head: an (B, D, h, w) token map → 3×3 conv + GELU → pixel shuffle → (B, C, H, W)."""

    def __init__(self, dim: int, cfg: HeadConfig, grid: tuple[int, int]) -> None:
        super().__init__()
        scale = cfg.image_size // grid[0]
        if scale * grid[0] != cfg.image_size or scale * grid[1] != cfg.image_size:
            raise ConfigError(f"head.image_size {cfg.image_size} is not a multiple of the token grid {grid}")
        self.norm = nn.LayerNorm(dim)
        self.conv = nn.Conv2d(dim, dim, 3, padding=1)
        self.out = nn.Conv2d(dim, cfg.outputs * scale * scale, 1)
        self.shuffle = nn.PixelShuffle(scale)
        self.grid = grid

    def forward(self, state: EncoderState, grid_tokens: torch.Tensor) -> torch.Tensor:
        h, w = self.grid
        x = self.norm(grid_tokens).transpose(1, 2).reshape(len(grid_tokens), -1, h, w)  # (B, D, h, w)
        return self.shuffle(self.out(F.gelu(self.conv(x))))  # (B, C, H, W)


def _classification_loss(out: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(out.float(), label.long())


def _regression_loss(out: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(out.float().reshape(label.shape), label.float())


def _accuracy(out: torch.Tensor, label: torch.Tensor) -> float:
    return float((out.argmax(1) == label.long()).float().mean())


def _rmse(out: torch.Tensor, label: torch.Tensor) -> float:
    return float(_regression_loss(out, label).sqrt())


def _miou(out: torch.Tensor, label: torch.Tensor) -> float:
    return mean_iou(confusion_matrix(out.argmax(1), label, out.shape[1]))


def _mae(out: torch.Tensor, label: torch.Tensor) -> float:
    return float((out.float().reshape(label.shape) - label.float()).abs().mean())


@dataclasses.dataclass(frozen=True)
class HeadType:
    """One task type: its head module, its training loss and the metric reported on validation.

    Attributes:
        module: (model width D, head config, token grid) -> the head.
        loss: (head output, labels) -> scalar loss.
        metric: name of the validation metric (``metric/<name>`` in metrics.jsonl).
        score: (head output, labels) -> the metric on one batch.
        higher_is_better: the metric's direction.
    """

    module: Callable[[int, HeadConfig, tuple[int, int]], nn.Module]
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    metric: str
    score: Callable[[torch.Tensor, torch.Tensor], float]
    higher_is_better: bool


#: Task type -> :class:`HeadType`.
HEADS: dict[str, HeadType] = {
    "classification": HeadType(PooledHead, _classification_loss, "accuracy", _accuracy, True),
    "regression": HeadType(PooledHead, _regression_loss, "rmse", _rmse, False),
    "segmentation": HeadType(DenseHead, _classification_loss, "miou", _miou, True),
    "dense_regression": HeadType(DenseHead, _regression_loss, "mae", _mae, False),
}


class TaskModel(nn.Module):
    """A 4M encoder with a task head (see the module docstring).

    Args:
        config: the backbone's :class:`ModelConfig` and the :class:`HeadConfig`.
    """

    def __init__(self, config: TaskModelConfig) -> None:
        super().__init__()
        self.config = config
        self.fourm = FourM(config.model)
        self.specs = self.fourm.specs
        self.inputs = list(config.head.inputs) or self.fourm.input_modalities
        unknown = [m for m in self.inputs if m not in self.fourm.input_modalities]
        if unknown:
            raise ConfigError(f"head.inputs {unknown} are not inputs of the model ({self.fourm.input_modalities})")
        grids = {g for m in self.inputs if (g := self.specs[m].grid) is not None}
        if config.head.kind in ("segmentation", "dense_regression") and len(grids) != 1:
            raise ConfigError(f"a dense head needs grid inputs with one token grid, got {sorted(map(str, grids))} "
                              f"for {self.inputs}")
        self.grid = grids.pop() if len(grids) == 1 else (1, 1)
        self.head_type = HEADS[config.head.kind]
        self.head = self.head_type.module(self.fourm.mask_token.shape[0], config.head, self.grid)

    @property
    def input_modalities(self) -> list[str]:
        return self.inputs

    @property
    def output_modalities(self) -> list[str]:
        return [self.config.head.task]

    def _grid_tokens(self, batch: Batch, state: EncoderState) -> torch.Tensor:
        """(B, h·w, D): the encoder tokens of every whole grid input, summed position by position.

        With whole inputs the encoder packs each sample's tokens modality by modality in batch order.
        """
        offset, total = 0, None
        for m, mb in batch.items():
            if m not in self.fourm.encoder_embeddings or not bool(mb.input_keep.any()):
                continue
            n = mb.input_keep.shape[1]
            if not bool(mb.input_keep.all()):
                raise ValueError(f"{m}: a task head reads whole inputs; every token must be kept")
            if self.specs[m].is_grid:
                part = state.hidden[:, offset : offset + n]
                total = part if total is None else total + part
            offset += n
        if total is None:
            return state.hidden.new_zeros(len(state.hidden), 0, state.hidden.shape[-1])
        return total

    def predict(self, batch: Batch) -> torch.Tensor:
        """The head's raw output: (B, C) logits / values, or (B, C, H, W) maps."""
        inputs = {m: mb for m, mb in batch.items() if m in self.inputs}
        missing = [m for m in self.inputs if m not in inputs]
        if missing:
            raise ValueError(f"the batch lacks the task's inputs {missing}")
        state = self.fourm.encode(inputs)
        return self.head(state, self._grid_tokens(inputs, state))

    def forward(self, batch: Batch) -> FourMOutput:
        """The task loss against the labels under :data:`~omnimask.batch.LABEL_KEY`; in eval mode
        also the head type's metric on this batch (``metrics``)."""
        if LABEL_KEY not in batch:
            raise ValueError(f"a task batch carries its labels under {LABEL_KEY!r}")
        out, label = self.predict(batch), batch[LABEL_KEY].tensor
        loss = self.head_type.loss(out, label)
        metrics = {} if self.training else {self.head_type.metric: self.head_type.score(out.detach(), label)}
        return FourMOutput(loss, {self.config.head.task: loss.detach()}, metrics=metrics)

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``model.safetensors`` + ``config.json`` (backbone config and head) into ``directory``."""
        from omnimask.model.checkpoint import save_pretrained

        return save_pretrained(self, directory)
