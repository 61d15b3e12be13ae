"""Tokenizers: turning each modality into discrete ids and back.

Image-like modalities and vectors go through VQ models with a card (:class:`ModalityTokenizer`:
:class:`SpatialVQVAE`, :class:`MLPVQVAE`, :class:`DiVAE`; quantizers from :func:`build_quantizer`).
Text and structured sequence modalities (captions, boxes, metadata, palettes, poses, SAM instances)
share one WordPiece vocabulary with 4M's special-token layout: see :mod:`omnimask.tokenizers.text`.
A model's tokenizers travel together as a bundle (:mod:`omnimask.tokenizers.bundle`); training our
own lives in :mod:`omnimask.training.tokenizers`.
"""

from omnimask.tokenizers.base import ModalityTokenizer, Tokenizer
from omnimask.tokenizers.card import DecodingSpec, InputSpec, TokenizerCard, TokenizerInputError
from omnimask.tokenizers.diffusion import DiVAE, DiVAEConfig
from omnimask.tokenizers.mlp_vqvae import MLPVQVAE, MLPVQVAEConfig
from omnimask.tokenizers.quantizers import QuantizerConfig, build_quantizer, codebook_stats
from omnimask.tokenizers.text import (
    COCO_CLASS_NAMES,
    TextLayout,
    TextLayoutError,
    TextTokenizer,
    train_text_tokenizer,
)
from omnimask.tokenizers.vqvae import SpatialVQVAE, VQVAEConfig

__all__ = [
    "COCO_CLASS_NAMES",
    "MLPVQVAE",
    "DecodingSpec",
    "DiVAE",
    "DiVAEConfig",
    "InputSpec",
    "MLPVQVAEConfig",
    "ModalityTokenizer",
    "QuantizerConfig",
    "SpatialVQVAE",
    "TextLayout",
    "TextLayoutError",
    "TextTokenizer",
    "Tokenizer",
    "TokenizerCard",
    "TokenizerInputError",
    "VQVAEConfig",
    "build_quantizer",
    "codebook_stats",
    "train_text_tokenizer",
]
