"""The 4M model: configuration with a size table, per-kind adapters, FourM, checkpoints."""

from omnimask.model.checkpoint import load_pretrained, save_pretrained
from omnimask.model.config import SIZES, ModelConfig, config_for_specs
from omnimask.model.fourm import (
    DecoderCache,
    EncoderState,
    FourM,
    FourMOutput,
    Queries,
    TargetOutputs,
)

__all__ = [
    "SIZES",
    "DecoderCache",
    "EncoderState",
    "FourM",
    "FourMOutput",
    "ModelConfig",
    "Queries",
    "TargetOutputs",
    "config_for_specs",
    "load_pretrained",
    "save_pretrained",
]
