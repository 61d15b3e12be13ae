"""Quantizers of the tokenizers' discrete bottleneck: cosine-EMA VQ, Memcodes and FSQ (one interface)."""

from omnimask.tokenizers.quantizers.base import Quantizer, QuantizerOutput
from omnimask.tokenizers.quantizers.build import QuantizerConfig, build_quantizer
from omnimask.tokenizers.quantizers.cosine_ema import CosineEMAQuantizer
from omnimask.tokenizers.quantizers.fsq import FSQ
from omnimask.tokenizers.quantizers.memcodes import Memcodes
from omnimask.tokenizers.quantizers.metrics import CodebookStats, codebook_stats

__all__ = [
    "FSQ",
    "CodebookStats",
    "CosineEMAQuantizer",
    "Memcodes",
    "Quantizer",
    "QuantizerConfig",
    "QuantizerOutput",
    "build_quantizer",
    "codebook_stats",
]
