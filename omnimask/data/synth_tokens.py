"""SynthWorld samples → the raw token samples a 4M model trains on.

:class:`SynthTokenizer` holds one image tokenizer per image-like map and the text tokenizer, and
maps a rendered SynthWorld sample (see :mod:`omnimask.data.synthworld.dataset`) to the raw form
masking expects, keyed by the model's modality names:

* ``pixels`` (``rgb@R``): the (H, W, 3) uint8 image (:func:`normalise_rgb` makes the model input);
* ``image_tokens`` (``tok_<map>@R``): (h·w,) ids of the map named by the spec's ``tokenizer``;
  ``tok_clip@R`` tokenizes MiniCLIP's patch features of the scene's RGB (the feature tokenizers take
  features, not RGB; MiniCLIP runs once per batch, its 8×8 grid must be the spec's grid);
* ``global_tokens`` (``tok_clip_global``): (n,) ids of MiniCLIP's global embedding of the RGB;
* ``sequence``: id chunks of the serialised value — ``caption`` as text, ``det`` as 4M boxes (class
  names), ``color_palette`` in 4M-21's palette text, ``metadata`` one chunk per key (4M-21's
  ``v1=<type> v0=<value>``); see :mod:`omnimask.tokenizers.bundle`.

:class:`SynthTokenSource` renders scene ``row`` and tokenizes it (the on-the-fly source);
:func:`pretokenize_synth` turns a range of scenes into an in-memory :class:`TokenStore`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from omnimask.data.synthworld import SEMANTIC_CLASSES, SHAPES, SynthWorldConfig, render_sample
from omnimask.data.synthworld.config import COLORS, MATERIALS
from omnimask.data.token_store import TokenStore
from omnimask.modalities import ModalitySpec
from omnimask.tokenizers.bundle import (
    AnyTokenizer,
    FeatureKMeansTokenizer,
    MapTokenizer,
    SequenceTokenizer,
    load_tokenizers,
    save_tokenizers,
)
from omnimask.tokenizers.kmeans import KMeansPatchTokenizer
from omnimask.tokenizers.map_features import map_features
from omnimask.tokenizers.text import TextTokenizer, train_text_tokenizer

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)[:, None, None]
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)[:, None, None]
NUM_SEMANTIC_CLASSES = len(SEMANTIC_CLASSES)
#: Spec ``tokenizer`` names whose raw values are MiniCLIP outputs of the RGB: index into ``features()``.
FEATURE_SOURCES: dict[str, int] = {"clip": 0, "clip_global": 1}


def normalise_rgb(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 → (3, H, W) float32, ImageNet mean/std as the released 4M feeds RGB."""
    return (map_features("rgb").to_features(rgb, 0) - IMAGENET_MEAN) / IMAGENET_STD


def model_inputs(raw: Mapping[str, Any], specs: Mapping[str, ModalitySpec]) -> dict[str, Any]:
    """``raw`` with stored uint8 images of ``pixels`` modalities normalised for the model."""
    out = dict(raw)
    for name, spec in specs.items():
        value = out.get(name)
        if spec.kind == "pixels" and isinstance(value, np.ndarray) and value.dtype == np.uint8:
            out[name] = normalise_rgb(value)
    return out


def vocabulary_corpus(samples: Sequence[Mapping[str, Any]]) -> list[str]:
    """Texts to train the SynthWorld WordPiece vocabulary on (captions + every word the world uses)."""
    words = [" ".join(SHAPES), " ".join(COLORS), " ".join(MATERIALS)]
    return [s["caption"] for s in samples] + words


def scene_features(samples: Sequence[Mapping[str, Any]], labeler: Any = None) -> dict[str, np.ndarray]:
    """MiniCLIP outputs of the samples' uint8 RGB, by source name: ``clip`` float32 (B, h, w, C) patch
    features and ``clip_global`` (B, E) unit-norm embeddings (``labeler`` default: the shipped MiniCLIP)."""
    if labeler is None:
        from omnimask.data.labelers.registry import load_labeler

        labeler = load_labeler("miniclip")
    outputs = labeler.features(np.stack([s["rgb"] for s in samples]))
    return {name: np.asarray(outputs[i], np.float32) for name, i in FEATURE_SOURCES.items()}


class SynthTokenizer:
    """Rendered SynthWorld sample → raw token sample for the modalities in ``specs``.

    ``tokenizers`` maps every discrete modality to its tokenizer (see :mod:`omnimask.tokenizers.bundle`);
    image-token modalities read the sample's map named by the spec's ``tokenizer`` field, sequence
    modalities the sample's field of the same name, and the MiniCLIP feature modalities (spec
    ``tokenizer`` in :data:`FEATURE_SOURCES`) the ``labeler``'s features of the RGB (default: the
    shipped MiniCLIP, loaded when first needed).
    """

    def __init__(self, specs: Mapping[str, ModalitySpec], tokenizers: Mapping[str, AnyTokenizer],
                 labeler: Any = None) -> None:
        self.specs = dict(specs)
        self.tokenizers = dict(tokenizers)
        self._labeler = labeler
        for name, spec in self.specs.items():
            if spec.is_discrete and name not in self.tokenizers:
                raise ValueError(f"no tokenizer for {name!r}; have {sorted(self.tokenizers)}")
            if spec.is_discrete and spec.vocab_size < self.tokenizers[name].vocab_size:
                raise ValueError(
                    f"{name}: vocab_size {spec.vocab_size} < its tokenizer's {self.tokenizers[name].vocab_size}; "
                    f"set the modality's vocab_size to at least {self.tokenizers[name].vocab_size}"
                )

    def __call__(self, sample: Mapping[str, Any]) -> dict[str, Any]:
        return self.batch([sample])[0]

    @property
    def labeler(self) -> Any:
        """The feature labeler of the MiniCLIP modalities (the shipped MiniCLIP unless one was given)."""
        if self._labeler is None:
            from omnimask.data.labelers.registry import load_labeler

            self._labeler = load_labeler("miniclip")
        return self._labeler

    def features(self, samples: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
        """:func:`scene_features` of the samples (empty when no spec needs MiniCLIP)."""
        if not any(s.tokenizer in FEATURE_SOURCES for s in self.specs.values()) or not samples:
            return {}
        return scene_features(samples, self.labeler)

    def _raw(self, spec: ModalitySpec, samples: Sequence[Mapping[str, Any]],
             features: Mapping[str, np.ndarray]) -> Any:
        """The raw values of ``spec``'s tokenizer for a batch (maps, or MiniCLIP features)."""
        if spec.tokenizer not in FEATURE_SOURCES:
            return [s[spec.tokenizer] for s in samples]
        raw = features[spec.tokenizer]
        if spec.kind == "image_tokens" and tuple(raw.shape[1:3]) != spec.grid:
            raise ValueError(f"{spec.name}: the labeler's feature grid {tuple(raw.shape[1:3])} is not the spec's "
                             f"grid {spec.grid}; declare tok_clip with the labeler's grid (synthworld_modalities "
                             "does: 8x8 for MiniCLIP at any resolution)")  # fmt: skip
        return raw

    def batch(self, samples: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Tokenize several samples at once (image tokenizers and MiniCLIP run batched)."""
        out: list[dict[str, Any]] = [{} for _ in samples]
        features = self.features(samples)
        for name, spec in self.specs.items():
            if spec.kind == "pixels":
                values = [s["rgb"] for s in samples]  # stored as uint8; see model_inputs
            elif spec.kind in ("image_tokens", "global_tokens") and spec.tokenizer in FEATURE_SOURCES:
                values = list(self.tokenizers[name].tokenize(self._raw(spec, samples, features)).numpy())
            elif spec.kind == "image_tokens":
                values = list(self.tokenizers[name].tokenize([s[spec.tokenizer] for s in samples]).numpy())
            elif spec.kind == "sequence":
                values = [self.tokenizers[name].chunks(s[name]) for s in samples]
            else:
                raise ValueError(f"SynthWorld has no {spec.kind} modality {name!r}")
            for o, v in zip(out, values):
                o[name] = v
        return out

    @classmethod
    def fit(cls, specs: Mapping[str, ModalitySpec], samples: Sequence[Mapping[str, Any]],
            text: TextTokenizer | None = None, seed: int = 0, labeler: Any = None) -> SynthTokenizer:
        """Fit the k-means stand-ins (and, without ``text``, a WordPiece vocabulary) on ``samples``;
        MiniCLIP feature modalities get k-means codebooks of the features
        (:class:`~omnimask.tokenizers.bundle.FeatureKMeansTokenizer`)."""
        maps: dict[str, MapTokenizer] = {}
        tokenizers: dict[str, AnyTokenizer] = {}
        if text is None and any(s.kind == "sequence" for s in specs.values()):
            vocab = max(s.vocab_size for s in specs.values() if s.kind == "sequence")
            text = train_text_tokenizer(vocabulary_corpus(samples), vocab, class_names=SHAPES)
        needs = any(s.tokenizer in FEATURE_SOURCES for s in specs.values())
        clip_feats = scene_features(samples, labeler) if needs else {}
        for name, spec in specs.items():
            if spec.tokenizer in FEATURE_SOURCES and spec.is_discrete:
                tokens = spec.num_tokens if spec.kind == "global_tokens" else 0
                tokenizers[name] = FeatureKMeansTokenizer.fit(spec.tokenizer, clip_feats[spec.tokenizer],
                                                              spec.vocab_size, tokens, seed=seed)  # fmt: skip
            elif spec.kind == "image_tokens":
                kind = spec.tokenizer
                if kind not in maps:
                    features = map_features(kind)
                    feats = np.stack([features.to_features(s[kind], NUM_SEMANTIC_CLASSES) for s in samples])
                    fitted = KMeansPatchTokenizer.fit(torch.from_numpy(feats), spec.patch_size, spec.vocab_size,
                                                      seed=seed)
                    maps[kind] = MapTokenizer(kind, fitted, NUM_SEMANTIC_CLASSES)
                tokenizers[name] = maps[kind]
            elif spec.kind == "sequence":
                tokenizers[name] = SequenceTokenizer(name, text)
        return cls(specs, tokenizers, labeler)

    def save(self, directory: str | Path) -> None:
        save_tokenizers(self.tokenizers, directory)

    @classmethod
    def load(cls, directory: str | Path, specs: Mapping[str, ModalitySpec]) -> SynthTokenizer:
        return cls(specs, load_tokenizers(directory))


class SynthTokenSource:
    """Scenes ``0 .. num-1`` of a SynthWorld seed, rendered and tokenized on access."""

    def __init__(self, tokenizer: SynthTokenizer, num: int, seed: int, cfg: SynthWorldConfig,
                 offset: int = 0) -> None:
        self.tokenizer, self.num, self.seed, self.cfg, self.offset = tokenizer, num, seed, cfg, offset

    def __len__(self) -> int:
        return self.num

    def __getitem__(self, row: int) -> dict[str, Any]:
        return self.tokenizer(render_sample(self.seed, self.offset + row, self.cfg))


def render_range(seed: int, start: int, num: int, cfg: SynthWorldConfig, desc: str = "render") -> list[dict]:
    """Render scenes ``start .. start+num-1`` with a progress bar."""
    return [render_sample(seed, i, cfg) for i in tqdm(range(start, start + num), desc=desc, leave=False)]


def pretokenize_synth(tokenizer: SynthTokenizer, samples: Sequence[Mapping[str, Any]],
                      batch: int = 64) -> TokenStore:
    """Tokenize rendered samples into an in-memory :class:`TokenStore` (keys = sample keys)."""
    rows: list[dict[str, Any]] = []
    for start in tqdm(range(0, len(samples), batch), desc="tokenize", leave=False):
        rows += tokenizer.batch(samples[start : start + batch])
    vocab = {name: spec.vocab_size for name, spec in tokenizer.specs.items()}
    return TokenStore.from_samples([s["key"] for s in samples], rows, vocab)
