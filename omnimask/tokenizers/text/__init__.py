"""Text and structured sequence modalities: 4M's WordPiece tokenizer and its text formats.

* :class:`TextTokenizer` — a ``tokenizers`` WordPiece vocabulary with 4M's special-token layout
  (:class:`TextLayout`); 4M's released 30k file loads as is.
* :func:`train_text_tokenizer` — train such a vocabulary on a corpus.
* :mod:`omnimask.tokenizers.text.serial` — boxes, metadata, colour palettes, human poses and SAM
  instances to and from 4M's text formats.
"""

from omnimask.tokenizers.text.layout import COCO_CLASS_NAMES, TextLayout, TextLayoutError
from omnimask.tokenizers.text.serial import *  # noqa: F403
from omnimask.tokenizers.text.serial import __all__ as _serial_all
from omnimask.tokenizers.text.tokenizer import TextTokenizer
from omnimask.tokenizers.text.train import train_text_tokenizer

__all__ = [
    "COCO_CLASS_NAMES",
    "TextLayout",
    "TextLayoutError",
    "TextTokenizer",
    "train_text_tokenizer",
    *_serial_all,
]
