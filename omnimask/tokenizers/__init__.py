"""Tokenizers: turning each modality into discrete ids and back.

Text and structured sequence modalities (captions, boxes, metadata, palettes, poses, SAM instances)
share one WordPiece vocabulary with 4M's special-token layout: see :mod:`omnimask.tokenizers.text`.
"""

from omnimask.tokenizers.text import (
    COCO_CLASS_NAMES,
    TextLayout,
    TextLayoutError,
    TextTokenizer,
    train_text_tokenizer,
)

__all__ = ["COCO_CLASS_NAMES", "TextLayout", "TextLayoutError", "TextTokenizer", "train_text_tokenizer"]
