"""Quantizer configuration as data, and the one function that builds a quantizer from it.

Tokenizer configs (``config.json`` beside every tokenizer checkpoint) hold a :class:`QuantizerConfig`;
:func:`build_quantizer` turns it into a module through a small table keyed by ``kind``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Literal

from omnimask.tokenizers.quantizers.base import Quantizer
from omnimask.tokenizers.quantizers.cosine_ema import CosineEMAQuantizer
from omnimask.tokenizers.quantizers.fsq import FSQ
from omnimask.tokenizers.quantizers.memcodes import Memcodes

QuantizerKind = Literal["cosine_ema", "memcodes", "fsq"]


@dataclasses.dataclass(kw_only=True)
class QuantizerConfig:
    """Which quantizer and its hyper-parameters (unused fields are ignored by the other kinds).

    Attributes:
        kind: ``cosine_ema`` (released 4M image tokenizers), ``memcodes`` (global / pose tokenizers)
            or ``fsq`` (lookup-free).
        codebook_size: K per codebook (ignored by ``fsq``: prod(fsq_levels)).
        num_codebooks: Memcodes heads Hc.
        decay, dead_code_threshold, replacement, commitment_weight, norm_latents, data_init:
            ``cosine_ema`` training settings (see :class:`CosineEMAQuantizer`).
        temperature: ``memcodes`` Gumbel-softmax temperature.
        fsq_levels: ``fsq`` levels per latent channel (latent width = len(fsq_levels)).
        seed: seed of the quantizer's own random choices.
    """

    kind: QuantizerKind = "cosine_ema"
    codebook_size: int = 1024
    num_codebooks: int = 1
    decay: float = 0.99
    dead_code_threshold: float = 0.25
    replacement: Literal["batch_random", "linde_buzo_gray"] = "batch_random"
    commitment_weight: float = 1.0
    norm_latents: bool = False
    data_init: bool = False
    temperature: float = 1.0
    fsq_levels: tuple[int, ...] = (8, 5, 5, 5)
    seed: int = 0

    @property
    def vocab_size(self) -> int:
        """Number of distinct ids per codebook."""
        return math.prod(self.fsq_levels) if self.kind == "fsq" else self.codebook_size


def _cosine(cfg: QuantizerConfig, dim: int) -> Quantizer:
    if cfg.num_codebooks != 1:
        raise ValueError("cosine_ema supports one codebook; use memcodes for several heads")
    return CosineEMAQuantizer(
        dim=dim,
        codebook_size=cfg.codebook_size,
        decay=cfg.decay,
        dead_code_threshold=cfg.dead_code_threshold,
        replacement=cfg.replacement,
        commitment_weight=cfg.commitment_weight,
        norm_latents=cfg.norm_latents,
        data_init=cfg.data_init,
        seed=cfg.seed,
    )


def _memcodes(cfg: QuantizerConfig, dim: int) -> Quantizer:
    return Memcodes(
        dim=dim,
        codebook_size=cfg.codebook_size,
        num_codebooks=cfg.num_codebooks,
        temperature=cfg.temperature,
        seed=cfg.seed,
    )


def _fsq(cfg: QuantizerConfig, dim: int) -> Quantizer:
    if dim != len(cfg.fsq_levels):
        raise ValueError(f"fsq: latent_dim {dim} must equal len(fsq_levels) = {len(cfg.fsq_levels)}")
    return FSQ(levels=cfg.fsq_levels)


BUILDERS: dict[str, Callable[[QuantizerConfig, int], Quantizer]] = {
    "cosine_ema": _cosine,
    "memcodes": _memcodes,
    "fsq": _fsq,
}


def build_quantizer(cfg: QuantizerConfig, dim: int) -> Quantizer:
    """The quantizer described by ``cfg`` for latents of width ``dim``."""
    try:
        builder = BUILDERS[cfg.kind]
    except KeyError:
        raise ValueError(f"unknown quantizer kind {cfg.kind!r}; known: {sorted(BUILDERS)}") from None
    return builder(cfg, dim)
