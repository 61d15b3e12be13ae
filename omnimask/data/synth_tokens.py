"""SynthWorld samples → the raw token samples a 4M model trains on.

:class:`SynthTokenizer` holds one image tokenizer per image-like map and the text tokenizer, and
maps a rendered SynthWorld sample (see :mod:`omnimask.data.synthworld.dataset`) to the raw form
masking expects, keyed by the model's modality names:

* ``pixels`` (``rgb@R``): the (H, W, 3) uint8 image (:func:`normalise_rgb` makes the model input);
* ``image_tokens`` (``tok_<map>@R``): (h·w,) ids of the map named by the spec's ``tokenizer``;
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
from omnimask.tokenizers.bundle import MapTokenizer, SequenceTokenizer, load_tokenizers, save_tokenizers
from omnimask.tokenizers.kmeans import KMeansPatchTokenizer
from omnimask.tokenizers.map_features import map_features
from omnimask.tokenizers.text import TextTokenizer, train_text_tokenizer

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)[:, None, None]
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)[:, None, None]
NUM_SEMANTIC_CLASSES = len(SEMANTIC_CLASSES)


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


class SynthTokenizer:
    """Rendered SynthWorld sample → raw token sample for the modalities in ``specs``.

    ``tokenizers`` maps every discrete modality to its tokenizer (see :mod:`omnimask.tokenizers.bundle`);
    image-token modalities read the sample's map named by the spec's ``tokenizer`` field, sequence
    modalities the sample's field of the same name.
    """

    def __init__(self, specs: Mapping[str, ModalitySpec], tokenizers: Mapping[str, MapTokenizer | SequenceTokenizer]):
        self.specs = dict(specs)
        self.tokenizers = dict(tokenizers)
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

    def batch(self, samples: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Tokenize several samples at once (image tokenizers run batched)."""
        out: list[dict[str, Any]] = [{} for _ in samples]
        for name, spec in self.specs.items():
            if spec.kind == "pixels":
                values = [s["rgb"] for s in samples]  # stored as uint8; see model_inputs
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
            text: TextTokenizer | None = None, seed: int = 0) -> SynthTokenizer:
        """Fit the k-means stand-ins (and, without ``text``, a WordPiece vocabulary) on ``samples``."""
        maps: dict[str, MapTokenizer] = {}
        tokenizers: dict[str, MapTokenizer | SequenceTokenizer] = {}
        if text is None and any(s.kind == "sequence" for s in specs.values()):
            vocab = max(s.vocab_size for s in specs.values() if s.kind == "sequence")
            text = train_text_tokenizer(vocabulary_corpus(samples), vocab, class_names=SHAPES)
        for name, spec in specs.items():
            if spec.kind == "image_tokens":
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
        return cls(specs, tokenizers)

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
