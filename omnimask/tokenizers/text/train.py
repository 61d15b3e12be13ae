"""Training a 4M-layout WordPiece vocabulary on a text corpus.

Mirrors how 4M trained its released 30k vocabulary: a ``tokenizers`` WordPiece model with BERT
normalisation (clean text, CJK splitting, lower-casing, accents stripped because ``strip_accents``
follows ``lowercase``), the BERT pre-tokenizer, the ``##`` continuation prefix, and the reserved
tokens handed to the trainer first, so that they take ids ``0 .. first_wordpiece_id - 1`` in the
layout of :class:`~omnimask.tokenizers.text.layout.TextLayout` (PAD 0, UNK 1, SOS 2, EOS 3,
sentinels, ``v0=``..``v3=`` coordinate tokens, class names), with the learned word pieces above.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tokenizers import Tokenizer, decoders, trainers
from tokenizers.models import WordPiece
from tokenizers.normalizers import BertNormalizer
from tokenizers.pre_tokenizers import BertPreTokenizer

from omnimask.tokenizers.text.layout import TextLayout, TextLayoutError
from omnimask.tokenizers.text.tokenizer import TextTokenizer


def _empty_wordpiece(lowercase: bool) -> Tokenizer:
    tokenizer = Tokenizer(WordPiece(unk_token=TextLayout.UNK, continuing_subword_prefix="##"))
    tokenizer.normalizer = BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=lowercase
    )
    tokenizer.pre_tokenizer = BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    return tokenizer


def train_text_tokenizer(
    corpus: Iterable[str],
    vocab_size: int,
    class_names: Sequence[str] = (),
    *,
    num_sentinels: int = 200,
    coord_bins: int = 1000,
    min_frequency: int = 0,
    lowercase: bool = True,
    show_progress: bool = False,
) -> TextTokenizer:
    """Train a WordPiece vocabulary with 4M's special-token layout.

    Args:
        corpus: training texts (captions, class names, ...), consumed once.
        vocab_size: requested total size, reserved tokens included (4M: 30 000). A small corpus
            may yield fewer word pieces; the result's ``vocab_size`` is the real size.
        class_names: atomic class-name tokens, put at ids right after the coordinate tokens in the
            given order. They are normalised like the text (lower-cased) so that they match it.
        num_sentinels, coord_bins: layout sizes (4M: 200 sentinels, 1000 bins per axis).
        min_frequency: minimum count of a pair to be merged into a word piece.
        lowercase: BERT lower-casing (and accent stripping), as in the released vocabulary.
        show_progress: let the library draw its progress bar.

    Returns:
        The trained :class:`TextTokenizer` (its layout has been checked).

    Raises:
        TextLayoutError: invalid or colliding class names, or ``vocab_size`` too small to hold the
            reserved tokens.
    """
    tokenizer = _empty_wordpiece(lowercase)
    normalized = tuple(tokenizer.normalizer.normalize_str(str(c).strip()) for c in class_names)
    normalized = tuple(" ".join(c.split()) for c in normalized)
    layout = TextLayout(num_sentinels=num_sentinels, coord_bins=coord_bins, class_names=normalized)
    if vocab_size <= layout.first_wordpiece_id:
        raise TextLayoutError(
            f"vocab_size={vocab_size} leaves no room for word pieces: the layout alone takes "
            f"{layout.first_wordpiece_id} ids ({num_sentinels} sentinels, 4x{coord_bins} coordinate "
            f"tokens, {len(normalized)} class names); raise --vocab-size or shrink the layout"
        )
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        show_progress=show_progress,
        continuing_subword_prefix="##",
        special_tokens=layout.added_tokens(),
    )
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    result = TextTokenizer(tokenizer)
    if result.layout != layout:  # the trainer must keep our order; guard against library changes
        raise TextLayoutError(f"trained vocabulary lost the requested layout: {result.layout} != {layout}")
    return result
