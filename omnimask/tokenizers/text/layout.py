"""The special-token layout of 4M's text vocabulary, as data.

4M serialises every sequence modality (captions, boxes, metadata, palettes, poses, SAM instances)
into text and tokenizes it with one WordPiece vocabulary whose first ids are fixed:

* ids 0..3: the control tokens ``[PAD]``, ``[UNK]``, ``[SOS]``, ``[EOS]``;
* ids 4..203: the span-masking sentinels ``[S_0]`` .. ``[S_199]`` (``[S_k]`` = 4 + k);
* ids 204..4203: coordinate / value tokens, one run of 1000 per axis: ``v0=0`` .. ``v0=999``
  (204..1203), ``v1=…`` (1204..2203), ``v2=…`` (2204..3203), ``v3=…`` (3204..4203);
* ids 4204..4283: the 80 COCO class names, atomic even when multi-word (``dining table``);
* ids 4284 and up: the learned word pieces (30 000 ids in all).

Sentinels and coordinate tokens are added as ``single_word`` tokens matched on the raw text;
class names are ``single_word`` tokens matched on the normalised (lower-cased) text, so "Hot Dog"
becomes the one token ``hot dog``. All of them are flagged *special* in the file (which is why the
library's ``skip_special_tokens`` would also drop boxes and class names; see
:meth:`omnimask.tokenizers.text.tokenizer.TextTokenizer.decode`).

:class:`TextLayout` describes one such layout, builds its added tokens for training and recovers
(and checks) the layout of a loaded tokenizer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from tokenizers import AddedToken, Tokenizer

from omnimask.tokenizers.text import special

#: The 80 COCO detection classes in the order (alphabetical) of the released 4M vocabulary.
COCO_CLASS_NAMES: tuple[str, ...] = (
    "airplane", "apple", "backpack", "banana", "baseball bat", "baseball glove", "bear", "bed",
    "bench", "bicycle", "bird", "boat", "book", "bottle", "bowl", "broccoli", "bus", "cake", "car",
    "carrot", "cat", "cell phone", "chair", "clock", "couch", "cow", "cup", "dining table", "dog",
    "donut", "elephant", "fire hydrant", "fork", "frisbee", "giraffe", "hair drier", "handbag",
    "horse", "hot dog", "keyboard", "kite", "knife", "laptop", "microwave", "motorcycle", "mouse",
    "orange", "oven", "parking meter", "person", "pizza", "potted plant", "refrigerator", "remote",
    "sandwich", "scissors", "sheep", "sink", "skateboard", "skis", "snowboard", "spoon",
    "sports ball", "stop sign", "suitcase", "surfboard", "teddy bear", "tennis racket", "tie",
    "toaster", "toilet", "toothbrush", "traffic light", "train", "truck", "tv", "umbrella", "vase",
    "wine glass", "zebra",
)  # fmt: skip

_COORD_RE = re.compile(r"^v([0-9])=(\d+)$")


class TextLayoutError(ValueError):
    """A tokenizer vocabulary that does not follow 4M's special-token layout."""


@dataclass(frozen=True)
class TextLayout:
    """Where the control, sentinel, coordinate and class-name tokens sit in a 4M text vocabulary.

    Args:
        num_sentinels: number of span-masking sentinels ``[S_0] .. [S_{n-1}]`` (4M: 200).
        coord_bins: values per coordinate axis, ``v{a}=0 .. v{a}={bins-1}`` (4M: 1000).
        class_names: atomic class-name tokens, in id order (4M: the 80 COCO classes).
    """

    num_sentinels: int = special.NUM_SENTINELS
    coord_bins: int = 1000
    class_names: tuple[str, ...] = COCO_CLASS_NAMES

    PAD: ClassVar[str] = special.PAD
    UNK: ClassVar[str] = special.UNK
    SOS: ClassVar[str] = special.SOS
    EOS: ClassVar[str] = special.EOS
    CONTROL_TOKENS: ClassVar[tuple[str, ...]] = special.CONTROL_TOKENS
    pad_id: ClassVar[int] = special.PAD_ID
    unk_id: ClassVar[int] = special.UNK_ID
    sos_id: ClassVar[int] = special.SOS_ID
    eos_id: ClassVar[int] = special.EOS_ID
    #: coordinate axes: for boxes v0..v3 = xmin, ymin, xmax, ymax; other modalities reuse them as values.
    COORD_AXES: ClassVar[int] = 4

    def __post_init__(self) -> None:
        if self.num_sentinels < 1:
            raise TextLayoutError(f"num_sentinels must be >= 1, got {self.num_sentinels}")
        if self.coord_bins < 1:
            raise TextLayoutError(f"coord_bins must be >= 1, got {self.coord_bins}")
        if len(set(self.class_names)) != len(self.class_names):
            dup = sorted({c for c in self.class_names if self.class_names.count(c) > 1})
            raise TextLayoutError(f"class names must be unique; repeated: {dup}")
        for name in self.class_names:
            if not name.strip() or name != name.strip() or "  " in name:
                raise TextLayoutError(
                    f"class name {name!r} must be non-empty words separated by single spaces"
                )
            if special.SENTINEL_RE.match(name) or _COORD_RE.match(name) or name in self.CONTROL_TOKENS:
                raise TextLayoutError(f"class name {name!r} collides with a reserved token")

    # --- ids -------------------------------------------------------------------------------
    @property
    def sentinel_start(self) -> int:
        """Id of ``[S_0]``."""
        return len(self.CONTROL_TOKENS)

    @property
    def coord_start(self) -> int:
        """Id of ``v0=0``."""
        return self.sentinel_start + self.num_sentinels

    @property
    def class_start(self) -> int:
        """Id of the first class-name token."""
        return self.coord_start + self.COORD_AXES * self.coord_bins

    @property
    def first_wordpiece_id(self) -> int:
        """Id of the first learned word piece (everything below is fixed by the layout)."""
        return self.class_start + len(self.class_names)

    def sentinel_id(self, k: int) -> int:
        """Id of sentinel ``[S_k]``, ``0 <= k < num_sentinels``."""
        if not 0 <= k < self.num_sentinels:
            raise IndexError(f"sentinel index {k} outside [0, {self.num_sentinels})")
        return self.sentinel_start + k

    def coord_id(self, axis: int, value: int) -> int:
        """Id of the token ``v{axis}={value}``."""
        if not 0 <= axis < self.COORD_AXES:
            raise IndexError(f"coordinate axis {axis} outside [0, {self.COORD_AXES})")
        if not 0 <= value < self.coord_bins:
            raise IndexError(f"coordinate value {value} outside [0, {self.coord_bins})")
        return self.coord_start + axis * self.coord_bins + value

    def class_id(self, name: str) -> int:
        """Id of the atomic class-name token ``name``."""
        try:
            return self.class_start + self.class_names.index(name)
        except ValueError:
            raise KeyError(f"{name!r} is not a class-name token of this vocabulary") from None

    # --- token strings -----------------------------------------------------------------------
    sentinel_token = staticmethod(special.sentinel_token)

    @staticmethod
    def coord_token(axis: int, value: int) -> str:
        return f"v{axis}={value}"

    def reserved_tokens(self) -> list[str]:
        """Every layout token in id order (ids ``0 .. first_wordpiece_id - 1``)."""
        tokens = list(self.CONTROL_TOKENS)
        tokens += [self.sentinel_token(k) for k in range(self.num_sentinels)]
        tokens += [self.coord_token(a, v) for a in range(self.COORD_AXES) for v in range(self.coord_bins)]
        tokens += list(self.class_names)
        return tokens

    def added_tokens(self) -> list[str | AddedToken]:
        """The layout as ``tokenizers`` special tokens, in id order, with the released file's flags."""
        out: list[str | AddedToken] = list(self.CONTROL_TOKENS)
        out += [
            AddedToken(self.sentinel_token(k), single_word=True, normalized=False, special=True)
            for k in range(self.num_sentinels)
        ]
        out += [
            AddedToken(self.coord_token(a, v), single_word=True, normalized=False, special=True)
            for a in range(self.COORD_AXES)
            for v in range(self.coord_bins)
        ]
        out += [AddedToken(c, single_word=True, normalized=True, special=True) for c in self.class_names]
        return out

    # --- recovering a layout from a tokenizer -----------------------------------------------------
    @classmethod
    def from_tokenizer(cls, tokenizer: Tokenizer) -> TextLayout:
        """Read the layout off a loaded tokenizer, checking every reserved id.

        Raises:
            TextLayoutError: when the vocabulary does not put 4M's tokens at 4M's ids.
        """
        vocab = tokenizer.get_vocab(with_added_tokens=True)
        inv = {i: t for t, i in vocab.items()}
        hint = (
            "this file is not a 4M-layout text tokenizer (expected [PAD] [UNK] [SOS] [EOS] = 0..3, "
            "sentinels [S_k] from id 4, then v0=..v3= coordinate tokens, then class names); "
            "train one with `omnimask tokenizer train-text` or load 4M's released text_tokenizer.json"
        )
        for i, tok in enumerate(cls.CONTROL_TOKENS):
            if inv.get(i) != tok:
                raise TextLayoutError(f"id {i} is {inv.get(i)!r}, expected {tok!r}: {hint}")
        n_sent = 0
        base = special.SENTINEL_BASE
        while inv.get(base + n_sent) == special.sentinel_token(n_sent):
            n_sent += 1
        if n_sent == 0:
            raise TextLayoutError(f"id {base} is {inv.get(base)!r}, expected {special.sentinel_token(0)!r}: {hint}")
        coord_start = base + n_sent
        bins = 0
        while inv.get(coord_start + bins) == f"v0={bins}":
            bins += 1
        if bins == 0:
            raise TextLayoutError(f"id {coord_start} is {inv.get(coord_start)!r}, expected 'v0=0': {hint}")
        for axis in range(1, cls.COORD_AXES):
            for v in range(bins):
                i = coord_start + axis * bins + v
                if inv.get(i) != f"v{axis}={v}":
                    raise TextLayoutError(f"id {i} is {inv.get(i)!r}, expected 'v{axis}={v}': {hint}")
        class_start = coord_start + cls.COORD_AXES * bins
        decoder = tokenizer.get_added_tokens_decoder()
        names: list[str] = []
        while (added := decoder.get(class_start + len(names))) is not None and added.special:
            names.append(added.content)
        return cls(num_sentinels=n_sent, coord_bins=bins, class_names=tuple(names))

    def card(self) -> dict:
        """A JSON-ready description of the layout, for a tokenizer's ``config.json``."""
        return {
            "pad_id": self.pad_id,
            "unk_id": self.unk_id,
            "sos_id": self.sos_id,
            "eos_id": self.eos_id,
            "sentinels": {"first_id": self.sentinel_start, "count": self.num_sentinels, "format": "[S_k]"},
            "coordinates": {
                "first_id": self.coord_start,
                "axes": self.COORD_AXES,
                "bins": self.coord_bins,
                "format": "v{axis}={value}",
            },
            "class_names": {"first_id": self.class_start, "names": list(self.class_names)},
            "first_wordpiece_id": self.first_wordpiece_id,
        }
