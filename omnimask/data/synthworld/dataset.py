"""SynthWorld samples in memory: ``render_sample(seed, index, cfg)``, deterministic splits, a dataset.

A sample is a dict keyed by modality name (4M spelling):

* ``rgb`` (H, W, 3) uint8; ``depth`` (H, W) float32 metres, 0 on sky; ``normal`` (H, W, 3) float32
  camera-frame unit vectors (x right, y up, z toward the camera), 0 on sky; ``semseg`` (H, W) uint8
  class ids; ``instance`` (H, W) uint8 (0 background, k + 1 for object k); ``edges`` (H, W) bool;
* ``det`` list of dicts, ``caption`` str, ``color_palette`` dict, ``metadata`` dict (see
  :mod:`~omnimask.data.synthworld.labels`, :mod:`~omnimask.data.synthworld.caption`,
  :mod:`~omnimask.data.synthworld.metadata`);
* ``scene`` the JSON-ready scene graph it was rendered from, and ``key`` / ``index``.

Randomness: the scene comes from ``default_rng([seed, index])``, pixel noise from
``default_rng([seed, index, 1])`` and the caption's wording from ``default_rng([seed, index, 2])``,
so a sample depends on nothing but (seed, index, config) — identical bytes in every process and
worker, whatever the order they are rendered in. Split membership is a hash of (seed, index).

On disk (``omnimask synth``, :mod:`~omnimask.data.synthworld.writer`) a dataset is laid out as
``DIR/{split}/{modality}/{key}.{ext}`` with ``DIR/manifest.json`` describing it; iterating a
:class:`SynthWorldDataset` yields the same samples without touching the disk.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from omnimask.config import ConfigError, to_dict
from omnimask.data.synthworld.caption import caption
from omnimask.data.synthworld.config import WALL, SynthWorldConfig
from omnimask.data.synthworld.labels import detections, occlusion_edges
from omnimask.data.synthworld.metadata import color_palette, compute_metadata
from omnimask.data.synthworld.render import render_maps
from omnimask.data.synthworld.scene import Scene, sample_scene

SPLITS: tuple[str, ...] = ("train", "val", "test")
DEFAULT_FRACTIONS: tuple[float, float, float] = (0.9, 0.05, 0.05)


def sample_key(index: int) -> str:
    """File key of scene ``index``: zero-padded to six digits (``000123``)."""
    return f"{index:06d}"


def render_scene(
    scene: Scene, cfg: SynthWorldConfig, noise_rng: np.random.Generator, caption_rng: np.random.Generator
) -> dict:
    """Every modality of a given (e.g. hand-placed) scene; see the module docstring for the keys."""
    maps = render_maps(scene, cfg, noise_rng)
    silhouette = maps.pop("silhouette")
    maps["edges"] = occlusion_edges(maps["depth"], maps["semseg"], maps["instance"], cfg.edge_threshold)
    det = detections(scene, maps["instance"], silhouette, cfg)
    text = caption(scene, det, bool((maps["semseg"] == WALL).any()), caption_rng)
    return {
        **maps,
        "det": det,
        "caption": text,
        "color_palette": color_palette(maps["rgb"]),
        "metadata": compute_metadata(maps, det, text),
        "scene": to_dict(scene),
    }


def render_sample(seed: int, index: int, cfg: SynthWorldConfig) -> dict:
    """Scene ``index`` of world ``seed``, rendered with every modality (pure function of its arguments)."""
    sample = render_scene(
        sample_scene(seed, index, cfg),
        cfg,
        np.random.default_rng([seed, index, 1]),
        np.random.default_rng([seed, index, 2]),
    )
    sample["index"], sample["key"] = index, sample_key(index)
    return sample


def _mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on uint64 arrays (wrapping arithmetic): a cheap, well-spread hash."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def assign_splits(seed: int, indices: np.ndarray, fractions: Sequence[float] = DEFAULT_FRACTIONS) -> np.ndarray:
    """Split id (0 train, 1 val, 2 test) of each scene index (N,) → (N,) int, by a hash of (seed, index).

    Membership of an index never changes when ``num`` grows, so datasets can be extended in place.
    """
    if len(fractions) != len(SPLITS) or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise ConfigError(f"split fractions {list(fractions)} must be three non-negative numbers summing to 1")
    idx = np.asarray(indices, dtype=np.uint64)
    with np.errstate(over="ignore"):
        h = _mix64(idx + _mix64(np.asarray([seed % 2**64], dtype=np.uint64)))
    u = (h >> np.uint64(11)).astype(np.float64) / float(2**53)
    return np.searchsorted(np.cumsum(fractions)[:-1], u, side="right")


def caption_corpus(n: int, seed: int = 0, cfg: SynthWorldConfig | None = None) -> Iterator[str]:
    """Captions of scenes ``0 .. n-1`` of world ``seed`` (for training a text tokenizer)."""
    cfg = cfg or SynthWorldConfig()
    for index in range(n):
        yield render_sample(seed, index, cfg)["caption"]


class SynthWorldDataset:
    """The first ``num`` scenes of world ``seed`` (optionally one split), rendered on access.

    Works as a ``torch.utils.data.Dataset`` (``len`` and integer indexing) and as an iterable;
    ``dataset[i]`` equals ``render_sample(seed, dataset.indices[i], cfg)``.
    """

    def __init__(
        self,
        num: int,
        *,
        seed: int = 0,
        cfg: SynthWorldConfig | None = None,
        split: str | None = None,
        fractions: Sequence[float] = DEFAULT_FRACTIONS,
    ) -> None:
        if split is not None and split not in SPLITS:
            raise ConfigError(f"split {split!r} is not one of {list(SPLITS)} (or None for all scenes)")
        self.seed, self.cfg = seed, cfg or SynthWorldConfig()
        all_indices = np.arange(num)
        if split is None:
            self.indices = all_indices
        else:
            self.indices = all_indices[assign_splits(seed, all_indices, fractions) == SPLITS.index(split)]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict:
        return render_sample(self.seed, int(self.indices[i]), self.cfg)

    def __iter__(self) -> Iterator[dict]:
        for i in range(len(self)):
            yield self[i]
