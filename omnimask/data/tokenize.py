"""Samples → the raw token samples a 4M model trains on: the generic tokenizing step of every source.

:class:`SampleTokenizer` holds one tokenizer per discrete modality (a bundle, see
:mod:`omnimask.tokenizers.bundle`) and maps a sample — a rendered SynthWorld scene or a labelled photo,
a dict with ``rgb`` and one raw value per map and sequence — to the raw form masking expects, keyed by
the model's modality names:

* ``pixels`` (``rgb@R``): the (H, W, 3) uint8 image (:func:`omnimask.data.transforms.model_inputs`
  normalises it for the model);
* ``image_tokens`` (``tok_<map>@R``): (h·w,) ids of the map named by the spec's ``tokenizer``;
  ``tok_clip@R`` tokenizes MiniCLIP's patch features of the sample's RGB (the feature tokenizers take
  features, not RGB; MiniCLIP runs once per batch, its 8×8 grid must be the spec's grid);
* ``global_tokens`` (``tok_clip_global``): (n,) ids of MiniCLIP's global embedding of the RGB;
* ``sequence``: id chunks of the serialised value — ``caption`` as text, ``det`` as 4M boxes (class
  names), ``color_palette`` in 4M-21's palette text, ``metadata`` one chunk per key (4M-21's
  ``v1=<type> v0=<value>``).

:func:`pretokenize_samples` turns a list of samples into an in-memory :class:`TokenStore`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from omnimask.data.token_store import TokenStore
from omnimask.modalities import ModalitySpec
from omnimask.progress import tqdm
from omnimask.tokenizers.bundle import load_tokenizers, save_tokenizers
from omnimask.tokenizers.entries import AnyTokenizer, SequenceTokenizer, Tokenizer

#: Spec ``tokenizer`` names whose raw values are MiniCLIP outputs of the RGB: index into ``features()``.
FEATURE_SOURCES: dict[str, int] = {"clip": 0, "clip_global": 1}


def sample_features(samples: Sequence[Mapping[str, Any]], labeler: Any = None) -> dict[str, np.ndarray]:
    """A feature labeler's outputs of the samples' uint8 RGB, by source name: ``clip`` float32 (B, h, w, C)
    patch features and ``clip_global`` (B, E) embeddings (``labeler`` default: the shipped MiniCLIP)."""
    if labeler is None:
        from omnimask.data.labelers.registry import load_labeler

        labeler = load_labeler("miniclip")
    rgb = np.stack([s["rgb"] for s in samples])
    both = getattr(labeler, "features", None)  # one pass for both where the labeler has it (MiniCLIP does)
    outputs = both(rgb) if both is not None else (labeler.patch_features(rgb), labeler.global_embedding(rgb))
    return {name: np.asarray(outputs[i], np.float32) for name, i in FEATURE_SOURCES.items()}


def _id_rows(tokenizer: Tokenizer, raw: Any) -> list[np.ndarray]:
    """The (N,) id rows of a grid or global tokenizer's (B, N) ids of ``raw`` (see :class:`Tokenizer`)."""
    ids = tokenizer.tokenize(raw)
    assert isinstance(ids, torch.Tensor), "grid and global tokenizers return (B, N) id tensors"
    return list(ids.numpy())


def sample_field(spec: ModalitySpec) -> str:
    """The field of a sample that ``spec``'s raw value comes from: ``rgb`` for pixels and the MiniCLIP
    features, the map named by the spec's ``tokenizer`` for other grids, the modality name for sequences."""
    if spec.is_pixels or spec.tokenizer in FEATURE_SOURCES:
        return "rgb"
    return spec.tokenizer if spec.is_grid and spec.tokenizer else spec.name


class SampleTokenizer:
    """A sample (SynthWorld's or a labelled image's) → raw token sample for the modalities in ``specs``.

    ``tokenizers`` maps every discrete modality to its tokenizer (see :mod:`omnimask.tokenizers.bundle`);
    image-token modalities read the sample's map named by the spec's ``tokenizer`` field, sequence
    modalities the sample's field of the same name, and the MiniCLIP feature modalities (spec
    ``tokenizer`` in :data:`FEATURE_SOURCES`) the ``labeler``'s features of the RGB (default: the
    shipped MiniCLIP, loaded when first needed). A sample is a dict with ``rgb`` ((H, W, 3) uint8),
    one raw map per map name and one value per sequence modality.
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
        """:func:`sample_features` of the samples (empty when no spec needs MiniCLIP)."""
        if not any(s.tokenizer in FEATURE_SOURCES for s in self.specs.values()) or not samples:
            return {}
        return sample_features(samples, self.labeler)

    def _raw(self, spec: ModalitySpec, samples: Sequence[Mapping[str, Any]],
             features: Mapping[str, np.ndarray]) -> Any:
        """The raw values of ``spec``'s tokenizer for a batch (maps, or MiniCLIP features)."""
        if spec.tokenizer is None or spec.tokenizer not in FEATURE_SOURCES:
            return [s[sample_field(spec)] for s in samples]
        raw = features[spec.tokenizer]
        if spec.is_grid and tuple(raw.shape[1:3]) != spec.grid:
            raise ValueError(f"{spec.name}: the labeler's feature grid {tuple(raw.shape[1:3])} is not the spec's "
                             f"grid {spec.grid}; declare tok_clip with the labeler's grid (synthworld_modalities "
                             "does: 8x8 for MiniCLIP at any resolution)")  # fmt: skip
        return raw

    def batch(self, samples: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Tokenize several samples at once (image tokenizers and MiniCLIP run batched)."""
        out: list[dict[str, Any]] = [{} for _ in samples]
        features = self.features(samples)
        for name, spec in self.specs.items():
            if spec.is_pixels:
                values = [s["rgb"] for s in samples]  # stored as uint8; see omnimask.data.transforms.model_inputs
            elif spec.predictable and spec.positional and spec.tokenizer in FEATURE_SOURCES:
                values = _id_rows(self.tokenizers[name], self._raw(spec, samples, features))
            elif spec.is_discrete and spec.is_grid:
                values = _id_rows(self.tokenizers[name], [s[sample_field(spec)] for s in samples])
            elif spec.is_sequence:
                text = self.tokenizers[name]
                assert isinstance(text, SequenceTokenizer), "only text tokenizers serialise sequence modalities"
                values = [text.chunks(s[name]) for s in samples]
            else:
                raise ValueError(f"samples hold no {spec.kind} modality {name!r}")
            for o, v in zip(out, values):
                o[name] = v
        return out

    def save(self, directory: str | Path) -> None:
        save_tokenizers(self.tokenizers, directory)

    @classmethod
    def load(cls, directory: str | Path, specs: Mapping[str, ModalitySpec]) -> SampleTokenizer:
        return cls(specs, load_tokenizers(directory))



def pretokenize_samples(tokenizer: SampleTokenizer, samples: Sequence[Mapping[str, Any]],
                      batch: int = 64) -> TokenStore:
    """Tokenize rendered samples into an in-memory :class:`TokenStore` (keys = sample keys)."""
    rows: list[dict[str, Any]] = []
    for start in tqdm(range(0, len(samples), batch), desc="tokenize", leave=False):
        rows += tokenizer.batch(samples[start : start + batch])
    vocab = {name: spec.vocab_size for name, spec in tokenizer.specs.items()}
    return TokenStore.from_samples([s["key"] for s in samples], rows, vocab)
