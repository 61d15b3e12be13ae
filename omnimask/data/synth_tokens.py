"""SynthWorld scenes as token samples: fitting the k-means stand-in tokenizers, the on-the-fly source.

The generic sample → tokens step is :class:`~omnimask.data.tokenize.SampleTokenizer`; this module adds
what only SynthWorld has: :func:`fit_synth_tokenizer` fits k-means stand-ins of every map (and a
WordPiece vocabulary of the world's words) on rendered scenes, :class:`SynthTokenSource` renders scene
``row`` and tokenizes it (the on-the-fly source), :func:`render_range` renders a range of scenes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from omnimask.data.synthworld import SEMANTIC_CLASSES, SHAPES, SynthWorldConfig, render_sample
from omnimask.data.synthworld.config import COLORS, MATERIALS
from omnimask.data.tokenize import FEATURE_SOURCES, SampleTokenizer, sample_features
from omnimask.modalities import ModalitySpec
from omnimask.progress import tqdm
from omnimask.tokenizers.entries import AnyTokenizer, FeatureKMeansTokenizer, MapTokenizer, SequenceTokenizer
from omnimask.tokenizers.kmeans import KMeansPatchTokenizer
from omnimask.tokenizers.map_features import MAP_FEATURES, map_features
from omnimask.tokenizers.text import TextTokenizer, train_text_tokenizer

NUM_SEMANTIC_CLASSES = len(SEMANTIC_CLASSES)


def vocabulary_corpus(samples: Sequence[Mapping[str, Any]]) -> list[str]:
    """Texts to train the SynthWorld WordPiece vocabulary on (captions + every word the world uses)."""
    words = [" ".join(SHAPES), " ".join(COLORS), " ".join(MATERIALS)]
    return [s["caption"] for s in samples] + words


def fit_synth_tokenizer(specs: Mapping[str, ModalitySpec], samples: Sequence[Mapping[str, Any]],
                        text: TextTokenizer | None = None, seed: int = 0, labeler: Any = None) -> SampleTokenizer:
    """Fit the k-means stand-ins (and, without ``text``, a WordPiece vocabulary) on ``samples``;
    MiniCLIP feature modalities get k-means codebooks of the features
    (:class:`~omnimask.tokenizers.entries.FeatureKMeansTokenizer`)."""
    maps: dict[str, MapTokenizer] = {}
    tokenizers: dict[str, AnyTokenizer] = {}
    if text is None and any(s.is_sequence for s in specs.values()):
        vocab = max(s.vocab_size for s in specs.values() if s.is_sequence)
        text = train_text_tokenizer(vocabulary_corpus(samples), vocab, class_names=SHAPES)
    needs = any(s.tokenizer in FEATURE_SOURCES for s in specs.values())
    clip_feats = sample_features(samples, labeler) if needs else {}
    for name, spec in specs.items():
        if spec.tokenizer in FEATURE_SOURCES and spec.is_discrete:
            tokens = 0 if spec.is_grid else spec.num_tokens
            tokenizers[name] = FeatureKMeansTokenizer.fit(spec.tokenizer, clip_feats[spec.tokenizer],
                                                          spec.vocab_size, tokens, seed=seed)  # fmt: skip
        elif spec.is_discrete and spec.is_grid:
            kind = spec.tokenizer
            if kind is None or spec.patch_size is None:
                raise ValueError(f"{name}: a SynthWorld token grid is fitted on the map its spec's `tokenizer` names, "
                                 f"in patches of `patch_size`; set both (maps: {sorted(MAP_FEATURES)})")
            if kind not in maps:
                features = map_features(kind)
                feats = np.stack([features.to_features(s[kind], NUM_SEMANTIC_CLASSES) for s in samples])
                fitted = KMeansPatchTokenizer.fit(torch.from_numpy(feats), spec.patch_size, spec.vocab_size,
                                                  seed=seed)
                maps[kind] = MapTokenizer(kind, fitted, NUM_SEMANTIC_CLASSES)
            tokenizers[name] = maps[kind]
        elif spec.is_sequence:
            assert text is not None  # trained above: a sequence spec is present
            tokenizers[name] = SequenceTokenizer(name, text)
    return SampleTokenizer(specs, tokenizers, labeler)


class SynthTokenSource:
    """Scenes ``0 .. num-1`` of a SynthWorld seed, rendered and tokenized on access."""

    def __init__(self, tokenizer: SampleTokenizer, num: int, seed: int, cfg: SynthWorldConfig,
                 offset: int = 0) -> None:
        self.tokenizer, self.num, self.seed, self.cfg, self.offset = tokenizer, num, seed, cfg, offset

    def __len__(self) -> int:
        return self.num

    def __getitem__(self, row: int) -> dict[str, Any]:
        return self.tokenizer(render_sample(self.seed, self.offset + row, self.cfg))


def render_range(seed: int, start: int, num: int, cfg: SynthWorldConfig, desc: str = "render") -> list[dict]:
    """Render scenes ``start .. start+num-1`` with a progress bar."""
    return [render_sample(seed, i, cfg) for i in tqdm(range(start, start + num), desc=desc, leave=False)]
