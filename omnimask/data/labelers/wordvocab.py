"""A word-level caption vocabulary for MiniCLIP's text encoder.

SynthWorld captions use a closed vocabulary of about a hundred words, so MiniCLIP tokenizes by
words rather than with the 4M WordPiece vocabulary (whose reserved sentinel and coordinate ids alone
take ~4.2k slots — a 64-wide embedding table of that size would outweigh the rest of the model).
Text is lower-cased and split into runs of letters (punctuation and digits are dropped); id 0 is
padding, id 1 stands for any word not seen when the vocabulary was built, the rest are the known
words in sorted order — so the same corpus always gives the same ids.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import torch

from omnimask.tokenizers.text.special import PAD, UNK

_WORD = re.compile(r"[a-z]+")


def split_words(text: str) -> list[str]:
    """Lower-cased runs of letters of ``text`` ("The red cube." -> ["the", "red", "cube"])."""
    return _WORD.findall(text.lower())


class WordVocab:
    """Word -> id table with ``[PAD]`` = 0 and ``[UNK]`` = 1 (see the module docstring)."""

    def __init__(self, words: Sequence[str]) -> None:
        if list(words[:2]) != [PAD, UNK]:
            raise ValueError(f"a word vocabulary starts with {[PAD, UNK]}, got {list(words[:2])}")
        if len(set(words)) != len(words):
            raise ValueError("duplicate words in the vocabulary")
        self.words = list(words)
        self.ids = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def build(cls, corpus: Iterable[str]) -> WordVocab:
        """Every word of ``corpus``, sorted, after the two special entries."""
        seen: set[str] = set()
        for text in corpus:
            seen.update(split_words(text))
        return cls([PAD, UNK, *sorted(seen)])

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, texts: Sequence[str], max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
        """B texts -> ids (B, L) int64 and keep (B, L) bool (True = a word), L = longest (<= max_len).

        Longer texts are cut to their first ``max_len`` words; an empty text keeps one ``[UNK]`` so
        that every row has a position to pool over.
        """
        if isinstance(texts, str):
            raise TypeError("encode takes a sequence of texts; wrap a single caption in a list")
        rows = [[self.ids.get(w, 1) for w in split_words(t)][:max_len] or [1] for t in texts]
        length = max((len(r) for r in rows), default=1)
        ids = torch.zeros(len(rows), length, dtype=torch.int64)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
        return ids, ids != 0
