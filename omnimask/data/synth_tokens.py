"""SynthWorld samples → the raw token samples a 4M model trains on.

:class:`SynthTokenizer` holds one image tokenizer per image-like map and the text tokenizer, and
maps a rendered SynthWorld sample (see :mod:`omnimask.data.synthworld.dataset`) to the raw form
masking expects, keyed by the model's modality names:

* ``pixels`` (``rgb@R``): the (H, W, 3) uint8 image (:func:`normalise_rgb` makes the model input);
* ``image_tokens`` (``tok_<map>@R``): (h·w,) ids of the map named by the spec's ``tokenizer``;
* ``sequence``: ``caption`` as text; ``det`` serialised as 4M boxes (class names); ``color_palette``
  in 4M-21's palette text; ``metadata`` as one chunk per key (4M-21's ``v1=<type> v0=<value>``).

:class:`SynthTokenSource` renders scene ``row`` and tokenizes it (the on-the-fly source);
:func:`pretokenize_synth` turns a range of scenes into an in-memory :class:`TokenStore`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from omnimask.data.map_features import map_features
from omnimask.data.synthworld import SEMANTIC_CLASSES, SHAPES, SynthWorldConfig, render_sample
from omnimask.data.synthworld.config import COLORS, MATERIALS
from omnimask.data.token_store import TokenStore
from omnimask.modalities import ModalitySpec
from omnimask.tokenizers.kmeans import KMeansPatchTokenizer
from omnimask.tokenizers.text import TextTokenizer, train_text_tokenizer
from omnimask.tokenizers.text.serial.detection import serialize_det
from omnimask.tokenizers.text.serial.metadata import metadata_chunks
from omnimask.tokenizers.text.serial.palette import serialize_palette

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


def sequence_texts(sample: Mapping[str, Any]) -> dict[str, list[str]]:
    """The text chunks of every SynthWorld sequence modality of ``sample``."""
    return {
        "caption": [sample["caption"]],
        "det": [serialize_det([{"class": d["class"], "box": d["box"]} for d in sample["det"]])],
        "color_palette": [serialize_palette(sample["color_palette"]["colors"])],
        "metadata": metadata_chunks(sample["metadata"]),
    }


def vocabulary_corpus(samples: Sequence[Mapping[str, Any]]) -> list[str]:
    """Texts to train the SynthWorld WordPiece vocabulary on (captions + every word the world uses)."""
    words = [" ".join(SHAPES), " ".join(COLORS), " ".join(MATERIALS)]
    return [s["caption"] for s in samples] + words


class SynthTokenizer:
    """Rendered SynthWorld sample → raw token sample for the modalities in ``specs``."""

    def __init__(self, specs: Mapping[str, ModalitySpec], maps: Mapping[str, KMeansPatchTokenizer],
                 text: TextTokenizer) -> None:
        self.specs = dict(specs)
        self.maps = dict(maps)
        self.text = text
        missing = [
            s.tokenizer for s in self.specs.values() if s.kind == "image_tokens" and s.tokenizer not in self.maps
        ]
        if missing:
            raise ValueError(f"no image tokenizer for maps {missing}; have {sorted(self.maps)}")
        for spec in self.specs.values():
            if spec.kind == "sequence" and spec.vocab_size < text.vocab_size:
                raise ValueError(
                    f"{spec.name}: vocab_size {spec.vocab_size} < text tokenizer's {text.vocab_size}; "
                    f"set the modality's vocab_size to {text.vocab_size}"
                )

    def image_ids(self, kind: str, maps: Sequence[np.ndarray]) -> np.ndarray:
        """(S, h·w) ids of ``maps`` (raw maps of one kind)."""
        feats = torch.from_numpy(np.stack([map_features(kind).to_features(m, NUM_SEMANTIC_CLASSES) for m in maps]))
        return self.maps[kind].tokenize(feats).numpy()

    def __call__(self, sample: Mapping[str, Any]) -> dict[str, Any]:
        return self.batch([sample])[0]

    def batch(self, samples: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Tokenize several samples at once (image tokenizers run batched)."""
        out: list[dict[str, Any]] = [{} for _ in samples]
        texts = [sequence_texts(s) for s in samples]
        for name, spec in self.specs.items():
            if spec.kind == "pixels":
                for o, s in zip(out, samples):
                    o[name] = s["rgb"]
            elif spec.kind == "image_tokens":
                ids = self.image_ids(spec.tokenizer, [s[spec.tokenizer] for s in samples])
                for o, row in zip(out, ids):
                    o[name] = row
            elif spec.kind == "sequence":
                for o, t in zip(out, texts):
                    o[name] = [np.asarray(self.text.encode(chunk), np.int64) for chunk in t[name]]
            else:
                raise ValueError(f"SynthWorld has no {spec.kind} modality {name!r}")
        return out

    @classmethod
    def fit(cls, specs: Mapping[str, ModalitySpec], samples: Sequence[Mapping[str, Any]],
            text: TextTokenizer | None = None, seed: int = 0) -> SynthTokenizer:
        """Fit the k-means stand-ins (and, without ``text``, a WordPiece vocabulary) on ``samples``."""
        maps = {}
        for spec in specs.values():
            if spec.kind == "image_tokens" and spec.tokenizer not in maps:
                kind = spec.tokenizer
                feats = torch.from_numpy(
                    np.stack([map_features(kind).to_features(s[kind], NUM_SEMANTIC_CLASSES) for s in samples])
                )
                maps[kind] = KMeansPatchTokenizer.fit(feats, spec.patch_size, spec.vocab_size, seed=seed)
        if text is None:
            vocab = max((s.vocab_size for s in specs.values() if s.kind == "sequence"), default=4608)
            text = train_text_tokenizer(vocabulary_corpus(samples), vocab, class_names=SHAPES)
        return cls(specs, maps, text)

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        for kind, tok in self.maps.items():
            tok.save(directory / kind)
        self.text.save_pretrained(directory / "text")
        (directory / "maps.json").write_text(json.dumps(sorted(self.maps)))

    @classmethod
    def load(cls, directory: str | Path, specs: Mapping[str, ModalitySpec]) -> SynthTokenizer:
        directory = Path(directory)
        kinds = json.loads((directory / "maps.json").read_text())
        maps = {k: KMeansPatchTokenizer.load(directory / k) for k in kinds}
        return cls(specs, maps, TextTokenizer.from_file(directory / "text"))


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
