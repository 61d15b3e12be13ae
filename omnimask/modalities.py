"""Modality specifications and the registry of named modality sets.

A :class:`ModalitySpec` says everything the model, the masking and the tokenizers need to know about
one modality: its *kind* (how it is embedded and predicted), vocabulary, token count and grid. Names
keep 4M's spelling (``rgb@224``, ``tok_depth@224``, ``caption`` ...) so released checkpoints and
configs map by name. Code dispatches on :attr:`ModalitySpec.kind` through small tables, never on
substrings of names.

Sets provided as data: the 4M-7 modalities (:func:`fourm7_modalities`), the 4M-21 modalities
(:func:`fourm21_modalities`) and the SynthWorld modalities (:func:`synthworld_modalities`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, Literal

Kind = Literal["image_tokens", "pixels", "sequence", "global_tokens", "embedding_sequence"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class KindTraits:
    """What a modality kind is: the facts code asks about a modality instead of naming its kind.

    Attributes:
        discrete: values are ids of a vocabulary (``vocab_size > 0``).
        predictable: the model can have an output head for it (it can be a target and be generated).
        grid: its positions form an h×w grid (``grid`` required, ``num_tokens = h·w``).
        sequence: text-serialised ids of varying length, masked by spans, decoded autoregressively.
        positional: inputs and targets share positions (each position is one or the other).
        pixels: raw image values split into patches (``patch_size`` required; encoder input only).
        vectors: continuous vectors of ``input_dim``, a varying number per sample (encoder input only).
    """

    discrete: bool = False
    predictable: bool = False
    grid: bool = False
    sequence: bool = False
    positional: bool = True
    pixels: bool = False
    vectors: bool = False


#: The modality kinds and their traits: the one place that says what each kind is.
KINDS: dict[str, KindTraits] = {
    "image_tokens": KindTraits(discrete=True, predictable=True, grid=True),
    "pixels": KindTraits(grid=True, pixels=True),
    "sequence": KindTraits(discrete=True, predictable=True, sequence=True, positional=False),
    "global_tokens": KindTraits(discrete=True, predictable=True),
    "embedding_sequence": KindTraits(vectors=True),
}

#: Sin-cos table length of every sequence modality in the released models (section 5.1 of the
#: reference-fixture README: the reference never truncates it to ``max_length``).
SEQUENCE_POS_TABLE_LEN = 512


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModalitySpec:
    """One modality.

    Attributes:
        name: 4M-style name, e.g. ``tok_depth@224``.
        kind: ``image_tokens`` (an h×w grid of discrete ids), ``pixels`` (raw image split into
            patches, encoder input only), ``sequence`` (text-serialised ids with span masking),
            ``global_tokens`` (a fixed number of ids with learned positions) or
            ``embedding_sequence`` (continuous vectors, encoder input only).
        vocab_size: V for discrete kinds, 0 otherwise.
        num_tokens: tokens of a full sample: h·w for grids and pixels, ``max_tokens`` (including
            ``[EOS]``) for sequences, the count for global tokens / embedding sequences.
        grid: (h, w) token grid of image-like kinds.
        patch_size: pixels per token side (the tokenizer's or the patch embedding's).
        channels: input channels of ``pixels`` (3 for RGB).
        input_dim: feature width of ``embedding_sequence``.
        max_length: decoder positions of a sequence modality; ranks beyond it reuse row 0.
        tokenizer: id of the tokenizer that produces the ids (``None`` for pixels).
        pad_id: id that fills unused sequence slots.
    """

    name: str
    kind: Kind
    vocab_size: int = 0
    num_tokens: int
    grid: tuple[int, int] | None = None
    patch_size: int | None = None
    channels: int = 3
    input_dim: int = 0
    max_length: int | None = None
    tokenizer: str | None = None
    pad_id: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"modality {self.name!r}: kind {self.kind!r} is not one of {tuple(KINDS)}")
        if self.is_grid and (self.grid is None or self.grid[0] * self.grid[1] != self.num_tokens):
            raise ValueError(f"modality {self.name!r}: grid {self.grid} must multiply to {self.num_tokens}")
        if self.is_discrete and self.vocab_size <= 0:
            raise ValueError(f"modality {self.name!r}: a {self.kind} modality needs vocab_size > 0")
        if self.is_pixels and not self.patch_size:
            raise ValueError(f"modality {self.name!r}: pixels need a patch_size")
        if self.is_vectors and self.input_dim <= 0:
            raise ValueError(f"modality {self.name!r}: {self.kind} needs input_dim > 0")

    @property
    def traits(self) -> KindTraits:
        """The traits of this modality's kind (:data:`KINDS`)."""
        return KINDS[self.kind]

    @property
    def is_discrete(self) -> bool:
        """True for kinds whose values are token ids."""
        return self.traits.discrete

    @property
    def predictable(self) -> bool:
        """True for kinds the model can predict (an output head exists for them)."""
        return self.traits.predictable

    @property
    def is_grid(self) -> bool:
        """True for kinds whose positions form an h×w grid."""
        return self.traits.grid

    @property
    def is_sequence(self) -> bool:
        """True for text-serialised sequences (span masking, autoregressive decoding)."""
        return self.traits.sequence

    @property
    def positional(self) -> bool:
        """True where inputs and targets share positions (everything but sequences)."""
        return self.traits.positional

    @property
    def is_pixels(self) -> bool:
        """True for raw image values split into patches."""
        return self.traits.pixels

    @property
    def is_vectors(self) -> bool:
        """True for continuous vectors (a varying number per sample)."""
        return self.traits.vectors

    @property
    def decoder_length(self) -> int:
        """Usable decoder position rows (sequence: ``max_length``; others: ``num_tokens``)."""
        if self.is_sequence:
            return self.max_length or self.num_tokens
        return self.num_tokens

    @property
    def image_size(self) -> tuple[int, int] | None:
        """Pixel size (H, W) of image-like kinds."""
        if self.grid is None or self.patch_size is None:
            return None
        return self.grid[0] * self.patch_size, self.grid[1] * self.patch_size

    def with_(self, **changes: Any) -> ModalitySpec:
        """A copy with some fields changed (e.g. a reduced vocabulary)."""
        return dataclasses.replace(self, **changes)


ModalitySet = dict[str, ModalitySpec]


def _image_tokens(name: str, vocab: int, size: int, patch: int, tokenizer: str | None = None) -> ModalitySpec:
    g = size // patch
    return ModalitySpec(
        name=name, kind="image_tokens", vocab_size=vocab, num_tokens=g * g, grid=(g, g), patch_size=patch,
        tokenizer=tokenizer,
    )


def _pixels(name: str, size: int, patch: int, channels: int = 3) -> ModalitySpec:
    g = size // patch
    return ModalitySpec(
        name=name, kind="pixels", num_tokens=g * g, grid=(g, g), patch_size=patch, channels=channels,
    )


def _sequence(name: str, vocab: int, max_tokens: int, max_length: int | None = None,
              tokenizer: str = "text") -> ModalitySpec:
    return ModalitySpec(
        name=name, kind="sequence", vocab_size=vocab, num_tokens=max_tokens,
        max_length=max_length or max_tokens, tokenizer=tokenizer,
    )


def _global(name: str, vocab: int, n: int, tokenizer: str | None = None) -> ModalitySpec:
    return ModalitySpec(name=name, kind="global_tokens", vocab_size=vocab, num_tokens=n, tokenizer=tokenizer)


#: Size of the released WordPiece vocabulary shared by all 4M sequence modalities.
RELEASED_TEXT_VOCAB = 30_000


def fourm7_modalities() -> ModalitySet:
    """The modalities of the released 4M-7 models (vocabularies and token counts as released)."""
    specs = [
        _pixels("rgb@224", 224, 16),
        _sequence("caption", RELEASED_TEXT_VOCAB, 256),
        _sequence("det", RELEASED_TEXT_VOCAB, 256),
        _image_tokens("tok_rgb@224", 16384, 224, 16, "rgb"),
        _image_tokens("tok_depth@224", 8192, 224, 16, "depth"),
        _image_tokens("tok_normal@224", 8192, 224, 16, "normal"),
        _image_tokens("tok_semseg@224", 4096, 224, 16, "semseg"),
        _image_tokens("tok_clip@224", 8192, 224, 16, "clip"),
    ]
    return {s.name: s for s in specs}


def superres_modalities() -> ModalitySet:
    """The 4M-7 set plus the 448-pixel modalities of the released super-resolution model."""
    specs = dict(fourm7_modalities())
    extra = [_pixels("rgb@448", 448, 16)] + [
        _image_tokens(f"tok_{m}@448", specs[f"tok_{m}@224"].vocab_size, 448, 16, m)
        for m in ("rgb", "depth", "normal", "semseg", "clip")
    ]
    specs.update({s.name: s for s in extra})
    return specs


def fourm21_modalities() -> ModalitySet:
    """The modalities of the released 4M-21 models (vocabularies and token counts as released)."""
    specs = dict(fourm7_modalities())
    extra = [
        _image_tokens("tok_dinov2@224", 8192, 224, 14, "dinov2"),
        _image_tokens("tok_imagebind@224", 8192, 224, 14, "imagebind"),
        _image_tokens("tok_canny_edge@224", 8192, 224, 16, "canny_edge"),
        _image_tokens("tok_sam_edge@224", 8192, 224, 16, "sam_edge"),
        _global("tok_dinov2_global", 8192, 16, "dinov2_global"),
        _global("tok_imagebind_global", 8192, 16, "imagebind_global"),
        _sequence("sam_instance", RELEASED_TEXT_VOCAB, 290),
        _sequence("human_poses", RELEASED_TEXT_VOCAB, 275, max_length=263),
        _sequence("color_palette", RELEASED_TEXT_VOCAB, 23),
        _sequence("metadata", RELEASED_TEXT_VOCAB, 40),
        ModalitySpec(name="t5_caption", kind="embedding_sequence", num_tokens=77, input_dim=4096),
    ]
    specs.update({s.name: s for s in extra})
    return specs


#: SynthWorld image-like modalities predicted as token grids (see omnimask.data.synthworld).
SYNTH_IMAGE_MODALITIES: tuple[str, ...] = ("rgb", "depth", "normal", "semseg", "edges")
#: SynthWorld structured modalities serialised as text sequences.
SYNTH_SEQUENCE_MODALITIES: dict[str, int] = {"caption": 48, "det": 64, "color_palette": 23, "metadata": 40}
#: Room for 4M's reserved text tokens (4 specials, 200 sentinels, 4×1000 coordinates), SynthWorld's
#: class names and a few hundred word pieces.
SYNTH_TEXT_VOCAB = 4608


#: Codebook sizes of the shipped SynthWorld map tokenizers (semantic maps need more codes for mIoU >= 0.9),
#: including the MiniCLIP feature tokenizers ``clip`` (patch features) and ``clip_global`` (embedding).
SYNTH_MAP_VOCAB: dict[str, int] = {"rgb": 512, "depth": 512, "normal": 512, "semseg": 1024, "edges": 512,
                                   "clip": 512, "clip_global": 512}  # fmt: skip
#: Token grid of ``tok_clip@R``: MiniCLIP's patch-feature grid, 8×8 at every resolution (MiniCLIP resizes
#: its input to 64×64), so at R = 64 it matches the other maps' grid and at R = 128 it is coarser.
SYNTH_CLIP_GRID = 8
#: Tokens of ``tok_clip_global``: 4 Memcodes heads of 512 codes (36 bits) per 64-d MiniCLIP embedding —
#: enough to keep most of its caption retrieval among 100 (which needs ~7 bits) at a cost of only 4
#: target tokens per sample (4M-21 spends 16 × 13 bits on 768-d DINOv2 / ImageBind embeddings).
SYNTH_CLIP_GLOBAL_TOKENS = 4


def synthworld_modalities(resolution: int = 64, patch: int = 8, vocab: int | dict[str, int] | None = None,
                          text_vocab: int = SYNTH_TEXT_VOCAB) -> ModalitySet:
    """The SynthWorld set: RGB pixels in, token grids of every image-like map, MiniCLIP feature tokens
    (``tok_clip@R``: an 8×8 grid of patch-feature tokens; ``tok_clip_global``: 4 tokens of the global
    embedding), text sequences.

    Args:
        resolution: square image size in pixels (64 default; 128 and 224 work).
        patch: pixels per token side of the maps (8 → an 8×8 grid at 64×64); ``tok_clip@R`` always has
            MiniCLIP's :data:`SYNTH_CLIP_GRID` grid (patch ``resolution // 8``).
        vocab: codebook size of every map, or per map (default :data:`SYNTH_MAP_VOCAB`, the shipped
            tokenizers').
        text_vocab: vocabulary size of the sequence modalities (at least the WordPiece vocabulary's).
    """
    r = resolution
    specs = [_pixels(f"rgb@{r}", r, patch)]
    sizes = dict.fromkeys(SYNTH_MAP_VOCAB, vocab) if isinstance(vocab, int) else {**SYNTH_MAP_VOCAB, **(vocab or {})}
    specs += [_image_tokens(f"tok_{m}@{r}", sizes[m], r, patch, m) for m in SYNTH_IMAGE_MODALITIES]
    clip_patch = max(1, r // SYNTH_CLIP_GRID)
    specs.append(_image_tokens(f"tok_clip@{r}", sizes["clip"], clip_patch * SYNTH_CLIP_GRID, clip_patch, "clip"))
    specs.append(_global("tok_clip_global", sizes["clip_global"], SYNTH_CLIP_GLOBAL_TOKENS, "clip_global"))
    specs += [_sequence(m, text_vocab, n) for m, n in SYNTH_SEQUENCE_MODALITIES.items()]
    return {s.name: s for s in specs}


MODALITY_SETS = {
    "4m7": fourm7_modalities,
    "4m21": fourm21_modalities,
    "4m7_sr448": superres_modalities,
    "synthworld": synthworld_modalities,
}


def get_modality_set(name: str) -> ModalitySet:
    """Look up a named modality set; the error lists the known names."""
    try:
        return MODALITY_SETS[name]()
    except KeyError:
        raise KeyError(f"unknown modality set {name!r}; known: {sorted(MODALITY_SETS)}") from None


def select(specs: Mapping[str, ModalitySpec], names: Iterable[str]) -> ModalitySet:
    """The specs named by ``names`` in that order; an unknown name is an error listing the known."""
    out: ModalitySet = {}
    for n in names:
        if n not in specs:
            raise KeyError(f"unknown modality {n!r}; known: {sorted(specs)}")
        out[n] = specs[n]
    return out


def modality_role(spec: ModalitySpec) -> str | None:
    """What a modality means, whatever a model calls it: the one role lookup of the package.

    ``rgb`` for the pixel input; for token grids the name of the map their tokenizer encodes (``depth``,
    ``semseg``, ``clip`` ...), with RGB tokens as ``tok_rgb`` so they differ from the pixels; ``global``
    for global tokens (an embedding such as ``tok_clip_global``); a sequence's own name (``caption``,
    ``det``, ``metadata`` ...). None when the spec does not say (a grid without a ``tokenizer``, an
    embedding sequence). Decided by ``kind`` and ``tokenizer``, never by substrings of names.
    """
    if spec.kind == "pixels":
        return "rgb"
    if spec.kind == "image_tokens" and spec.tokenizer:
        return "tok_rgb" if spec.tokenizer == "rgb" else spec.tokenizer
    if spec.kind == "global_tokens":
        return "global"
    if spec.kind == "sequence":
        return spec.name
    return None


def find_roles(specs: Mapping[str, ModalitySpec]) -> dict[str, str]:
    """Role → modality name (see :func:`modality_role`); the first modality of a role, in ``specs`` order, wins."""
    roles: dict[str, str] = {}
    for name, spec in specs.items():
        role = modality_role(spec)
        if role is not None:
            roles.setdefault(role, name)
    return roles
