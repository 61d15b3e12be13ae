"""MiniCLIP as a feature labeler: its checkpoint card, saving / loading, and batched feature extraction.

A MiniCLIP checkpoint is a directory with ``model.safetensors`` and ``config.json`` (a
:class:`MiniClipCard`: architecture, word vocabulary, output shapes, how it was trained and how well
it retrieves). The shipped one lives in ``omnimask/assets/miniclip`` and is rebuilt by
``omnimask labeler train-miniclip``.

:class:`MiniClipLabeler` implements :class:`~omnimask.data.labelers.base.TextAlignedLabeler`:

* ``input_mode="resize"`` (default) — any H×W input is resized to 64×64 (bilinear, antialiased), so
  the feature map is always 8×8 and the network sees images like those it was trained on;
* ``input_mode="native"`` — H and W must be multiples of 8; the 8×8 position table is resized
  (bicubic) to (H/8)×(W/8) and the feature map has that size (e.g. 16×16 at 128 px, 28×28 at 224 px).
  MiniCLIP only ever saw 64-px scenes, where a patch covers four times the area it covers at 128 px;
  its global embedding still transfers (``python -m benchmarks.miniclip``: retrieval of 100 fresh
  128-px scenes R@5 ≈ 0.95 resized, ≈ 0.99 native, vs 0.95 at 64 px), but ``native`` costs ~4× more
  per image and gives a different grid than ``tok_clip@64``, hence ``resize`` as the default.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from omnimask.config import load_config, save_config
from omnimask.data.labelers.base import LabelerInputError, as_rgb_batch
from omnimask.data.labelers.miniclip import MiniClip, MiniClipConfig
from omnimask.data.labelers.wordvocab import WordVocab
from omnimask.files import CONFIG_NAME, WEIGHTS_NAME, write_safetensors

#: The checkpoint shipped with omnimask (``omnimask labeler train-miniclip`` reproduces it).
SHIPPED_DIR = Path(__file__).resolve().parents[2] / "assets" / "miniclip"

InputMode = Literal["resize", "native"]


@dataclasses.dataclass(kw_only=True)
class MiniClipCard:
    """Everything stored in a MiniCLIP ``config.json``.

    Attributes:
        name: labeler name.
        architecture: the model's :class:`MiniClipConfig`.
        vocab: the word vocabulary (index = id; ``[PAD]``, ``[UNK]`` first).
        input: what ``patch_features`` / ``global_embedding`` take.
        outputs: output shapes at the training resolution, per method.
        training: how the weights were made (command, seeds, data, steps, wall time).
        metrics: held-out retrieval (``{direction}_r@{k}`` among ``pool`` scenes).
    """

    name: str = "miniclip"
    architecture: MiniClipConfig
    vocab: list[str]
    input: str = "uint8 RGB (B, H, W, 3) in 0..255; resized to 64x64 unless input_mode='native'"
    outputs: dict[str, list[int]] = dataclasses.field(default_factory=dict)
    training: dict[str, Any] = dataclasses.field(default_factory=dict)
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)


def save_miniclip(
    model: MiniClip,
    vocab: WordVocab,
    directory: str | Path,
    *,
    training: dict[str, Any] | None = None,
    metrics: dict[str, float] | None = None,
) -> Path:
    """Write ``directory/model.safetensors`` and its card ``directory/config.json`` (atomically each)."""
    cfg = model.config
    if len(vocab) != cfg.vocab_size:
        raise ValueError(f"vocabulary of {len(vocab)} words does not match vocab_size={cfg.vocab_size}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    write_safetensors(directory / WEIGHTS_NAME, model.state_dict())
    card = MiniClipCard(
        architecture=cfg,
        vocab=list(vocab.words),
        outputs={"patch_features": [cfg.grid, cfg.grid, cfg.width], "global_embedding": [cfg.embed_dim]},
        training=dict(training or {}),
        metrics=dict(metrics or {}),
    )
    save_config(card, directory / CONFIG_NAME)
    return directory


def load_miniclip(
    path: str | Path | None = None, *, input_mode: InputMode = "resize", batch_size: int = 256
) -> MiniClipLabeler:
    """The MiniCLIP labeler stored in directory ``path`` (default: the shipped checkpoint)."""
    directory = Path(path) if path is not None else SHIPPED_DIR
    weights, card_file = directory / WEIGHTS_NAME, directory / CONFIG_NAME
    if not (weights.is_file() and card_file.is_file()):
        raise FileNotFoundError(
            f"no MiniCLIP checkpoint in {directory} (need {WEIGHTS_NAME} and {CONFIG_NAME}); "
            "make one with `omnimask labeler train-miniclip --out DIR`"
        )
    card = load_config(MiniClipCard, card_file)
    model = MiniClip(card.architecture)
    model.load_state_dict(load_file(str(weights)), strict=True)
    return MiniClipLabeler(model.eval(), WordVocab(card.vocab), input_mode=input_mode, batch_size=batch_size)


def card_of(path: str | Path | None = None) -> MiniClipCard:
    """The card of the MiniCLIP checkpoint in ``path`` (default: the shipped one), without the weights."""
    directory = Path(path) if path is not None else SHIPPED_DIR
    if not (directory / CONFIG_NAME).is_file():
        raise FileNotFoundError(f"no MiniCLIP card {CONFIG_NAME} in {directory}")
    return load_config(MiniClipCard, directory / CONFIG_NAME)


class MiniClipLabeler:
    """A frozen MiniCLIP behind the feature-labeler protocol (input modes: see the module docstring).

    Args:
        model: the network (kept in eval mode).
        vocab: its word vocabulary (for :meth:`encode_text`).
        input_mode: ``resize`` or ``native``.
        batch_size: images per forward pass; larger batches are processed in chunks.
    """

    name = "miniclip"

    def __init__(
        self, model: MiniClip, vocab: WordVocab, *, input_mode: InputMode = "resize", batch_size: int = 256
    ) -> None:
        if input_mode not in ("resize", "native"):
            raise ValueError(f"input_mode must be 'resize' or 'native', got {input_mode!r}")
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.model, self.vocab = model.eval(), vocab
        self.input_mode, self.batch_size = input_mode, batch_size

    @property
    def feature_dim(self) -> int:
        return self.model.config.width

    @property
    def embedding_dim(self) -> int:
        return self.model.config.embed_dim

    def grid(self, height: int, width: int) -> tuple[int, int]:
        """(h, w) of the feature map for H×W input in this labeler's input mode."""
        cfg = self.model.config
        if self.input_mode == "resize":
            return cfg.grid, cfg.grid
        return height // cfg.patch_size, width // cfg.patch_size

    def _pixels(self, rgb: torch.Tensor) -> torch.Tensor:
        """uint8 (B, H, W, 3) -> normalised float32 (B, 3, H', W') at the size the model will see."""
        size, patch = self.model.config.image_size, self.model.config.patch_size
        pixels = self.model.normalize_pixels(rgb)
        if self.input_mode == "native":
            if rgb.shape[1] % patch or rgb.shape[2] % patch:
                raise LabelerInputError(
                    f"input_mode='native' needs H and W divisible by the patch size {patch}, got "
                    f"{tuple(rgb.shape[1:3])}; crop, or use input_mode='resize'"
                )
            return pixels
        if rgb.shape[1:3] == (size, size):
            return pixels
        return F.interpolate(pixels, size=(size, size), mode="bilinear", align_corners=False, antialias=True)

    @torch.inference_mode()
    def features(self, rgb: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 RGB (B, H, W, 3) -> patch features (B, h, w, C) and unit-norm embeddings (B, E), float32.

        One forward pass gives both, in chunks of ``batch_size`` images.
        """
        rgb = as_rgb_batch(rgb)
        maps, embeddings = [], []
        for chunk in rgb.split(self.batch_size):
            tokens = self.model.image_grid_tokens(self._pixels(chunk))  # (b, h, w, C)
            maps.append(tokens)
            embeddings.append(self.model.embed_image_tokens(tokens))
        return torch.cat(maps), torch.cat(embeddings)

    def patch_features(self, rgb: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 RGB (B, H, W, 3) -> float32 (B, h, w, C) patch features (C = ``feature_dim``)."""
        return self.features(rgb)[0]

    def global_embedding(self, rgb: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 RGB (B, H, W, 3) -> float32 (B, E) unit-norm image embeddings (E = ``embedding_dim``)."""
        return self.features(rgb)[1]

    @torch.inference_mode()
    def encode_text(self, captions: Sequence[str]) -> torch.Tensor:
        """B captions -> float32 (B, E) unit-norm text embeddings (same space as :meth:`global_embedding`)."""
        if isinstance(captions, str) or not all(isinstance(c, str) for c in captions):
            raise LabelerInputError("encode_text takes a list of caption strings; wrap a single caption in a list")
        if len(captions) == 0:
            return torch.zeros(0, self.embedding_dim)
        out = []
        for start in range(0, len(captions), self.batch_size):
            ids, keep = self.vocab.encode(captions[start : start + self.batch_size], self.model.config.max_text_len)
            out.append(self.model.encode_text(ids, keep))
        return torch.cat(out)
