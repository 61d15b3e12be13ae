"""The text tokenizer of every sequence modality: a WordPiece vocabulary with 4M's id layout.

:class:`TextTokenizer` wraps a HuggingFace ``tokenizers.Tokenizer`` (the library does the WordPiece
work) and adds what 4M's pipeline relies on: checked ids for ``[PAD]``/``[UNK]``/``[SOS]``/``[EOS]``,
the sentinels and the coordinate tokens, encoding that adds no special tokens, and decoding that can
drop control tokens while keeping boxes and class names (which the file marks *special* too).

The released 4M file (``text_tokenizer_4m_wordpiece_30k.json``) loads as is::

    tok = TextTokenizer.from_file("text_tokenizer.json")
    tok.encode("a red cube next to a blue sphere [S_1]")  # [4321, 5135, 12798, ..., 5]
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer

from omnimask.files import CONFIG_NAME, write_json, write_text
from omnimask.tokenizers.text.layout import TextLayout, TextLayoutError

#: File names inside a tokenizer directory (the layout a model hub uses).
TOKENIZER_FILE = "tokenizer.json"


class TextTokenizer:
    """A 4M-layout WordPiece tokenizer.

    Args:
        backend: the ``tokenizers.Tokenizer`` to wrap; its vocabulary must follow 4M's layout.

    Raises:
        TextLayoutError: when ``backend`` does not put 4M's reserved tokens at 4M's ids.
    """

    def __init__(self, backend: Tokenizer) -> None:
        self.backend = backend
        self.layout = TextLayout.from_tokenizer(backend)
        self._control_ids = frozenset(
            {self.layout.pad_id, self.layout.sos_id, self.layout.eos_id}
            | set(range(self.layout.sentinel_start, self.layout.coord_start))
        )

    # --- loading and saving ------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | Path) -> TextTokenizer:
        """Load a ``tokenizers`` JSON file, or a directory holding ``tokenizer.json``."""
        path = Path(path)
        if path.is_dir():
            path = path / TOKENIZER_FILE
        if not path.is_file():
            raise FileNotFoundError(
                f"no tokenizer file at {path}; pass a tokenizers JSON file (e.g. 4M's "
                f"text_tokenizer.json) or a directory written by `omnimask tokenizer train-text`"
            )
        try:
            backend = Tokenizer.from_file(str(path))
        except Exception as err:  # the library raises a bare Exception on malformed JSON
            raise TextLayoutError(f"{path} is not a HuggingFace tokenizers JSON file: {err}") from err
        try:
            return cls(backend)
        except TextLayoutError as err:
            raise TextLayoutError(f"{path}: {err}") from None

    @classmethod
    def from_str(cls, text: str) -> TextTokenizer:
        """Build from the JSON text of a ``tokenizers`` file."""
        return cls(Tokenizer.from_str(text))

    def to_str(self) -> str:
        """The ``tokenizers`` JSON text (what :meth:`save` writes)."""
        return self.backend.to_str()

    def save(self, path: str | Path) -> None:
        """Write the ``tokenizers`` JSON file (loadable by :meth:`from_file` and by the library)."""
        write_text(path, self.to_str())

    def save_pretrained(self, directory: str | Path, **extra_card: object) -> Path:
        """Write ``tokenizer.json`` and its card ``config.json`` into ``directory``; return the directory."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.save(directory / TOKENIZER_FILE)
        card = {**self.card(), **extra_card}
        write_json(directory / CONFIG_NAME, card)
        return directory

    def card(self) -> dict:
        """What a user needs to feed this tokenizer: kind, vocabulary size, layout, normalisation."""
        normalizer = json.loads(self.to_str()).get("normalizer")
        return {
            "tokenizer": "text_wordpiece",
            "format": "huggingface-tokenizers",
            "file": TOKENIZER_FILE,
            "vocab_size": self.vocab_size,
            "adds_special_tokens": False,
            "normalizer": normalizer,
            "layout": self.layout.card(),
        }

    # --- ids -----------------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        """Number of ids, reserved tokens included (4M's released file: 30 000)."""
        return self.backend.get_vocab_size(with_added_tokens=True)

    @property
    def pad_id(self) -> int:
        return self.layout.pad_id

    @property
    def unk_id(self) -> int:
        return self.layout.unk_id

    @property
    def sos_id(self) -> int:
        return self.layout.sos_id

    @property
    def eos_id(self) -> int:
        return self.layout.eos_id

    @property
    def num_sentinels(self) -> int:
        return self.layout.num_sentinels

    def sentinel_id(self, k: int) -> int:
        """Id of sentinel ``[S_k]`` (``[S_0]`` is id 4)."""
        return self.layout.sentinel_id(k)

    def is_sentinel(self, token_id: int) -> bool:
        return self.layout.sentinel_start <= token_id < self.layout.coord_start

    def coord_id(self, axis: int, value: int) -> int:
        """Id of ``v{axis}={value}``."""
        return self.layout.coord_id(axis, value)

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.layout.class_names

    def token_to_id(self, token: str) -> int | None:
        return self.backend.token_to_id(token)

    def id_to_token(self, token_id: int) -> str | None:
        return self.backend.id_to_token(int(token_id))

    # --- text <-> ids ---------------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``; no ``[SOS]``/``[EOS]`` is added (as in 4M)."""
        if not isinstance(text, str):
            raise TypeError(f"encode expects a str, got {type(text).__name__}")
        return self.backend.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: Iterable[str]) -> list[list[int]]:
        """:meth:`encode` for many texts at once (the library parallelises)."""
        return [e.ids for e in self.backend.encode_batch(list(texts), add_special_tokens=False)]

    def decode(self, ids: Iterable[int], *, skip_special: bool = False, stop_at_eos: bool = False) -> str:
        """Text of ``ids``.

        Args:
            ids: token ids (ints, numpy or torch integers; a 1-D tensor works).
            skip_special: drop the control tokens ``[PAD]``, ``[SOS]``, ``[EOS]`` and the sentinels.
                Coordinate tokens, class names and ``[UNK]`` are content and stay (the library's own
                ``skip_special_tokens`` would drop boxes and class names as well).
            stop_at_eos: ignore everything from the first ``[EOS]`` on.
        """
        out = [int(i) for i in ids]
        if stop_at_eos and self.eos_id in out:
            out = out[: out.index(self.eos_id)]
        if skip_special:
            out = [i for i in out if i not in self._control_ids]
        bad = [i for i in out if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"token ids {bad[:5]} are outside the vocabulary [0, {self.vocab_size})")
        return self.backend.decode(out, skip_special_tokens=False)

    def __repr__(self) -> str:
        lay = self.layout
        return (
            f"TextTokenizer(vocab_size={self.vocab_size}, sentinels={lay.num_sentinels}, "
            f"coord_bins={lay.coord_bins}, class_names={len(lay.class_names)})"
        )
