"""SynthWorld maps for tokenizer training: one map kind of a split, in memory, plus flip augmentation.

A tokenizer of SynthWorld's ``depth`` (say) trains on the depth maps of the training split and is
measured on those of the validation split. The maps come from an ``omnimask synth`` folder
(``data.path``; only the one modality's files are decoded) or, without one, from rendering scenes
``0 .. num_scenes-1`` of world ``seed`` (split membership as :func:`assign_splits` decides it, the
same as the folder's). Rendered maps are cached as ``.npy`` files under ``data.cache`` so the five
tokenizers of a world render it once.

This module sits at the training layer: it reads :mod:`omnimask.data.synthworld`, which itself
never imports tokenizers.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import torch

from omnimask.config import ConfigError
from omnimask.data.synthworld import SynthWorldConfig, assign_splits, render_sample
from omnimask.data.synthworld.dataset import DEFAULT_FRACTIONS, SPLITS
from omnimask.data.synthworld.writer import MODALITY_FILES, decode
from omnimask.progress import tqdm

#: The image-like SynthWorld maps a tokenizer can be trained on.
MAP_KINDS: tuple[str, ...] = ("rgb", "depth", "normal", "semseg", "edges")


@dataclasses.dataclass(kw_only=True)
class TokenizerDataConfig:
    """Where the training maps come from.

    Attributes:
        path: an ``omnimask synth`` folder; empty = render scenes (cached under ``cache``).
        num_scenes: scenes ``0 .. num_scenes-1`` to render when there is no folder.
        seed: world seed of rendered scenes.
        resolution: image side in pixels (a folder must have been written at it).
        cache: folder for rendered maps (``{cache}/synth{resolution}_s{seed}_n{num_scenes}/``).
        max_train: use at most this many training maps (0 = all).
        max_val: measure on at most this many validation maps (0 = all).
        flip: random horizontal flips of training maps (normals: x component negated).
    """

    path: str = ""
    num_scenes: int = 6000
    seed: int = 0
    resolution: int = 64
    cache: str = "runs/cache"
    max_train: int = 0
    max_val: int = 0
    flip: bool = True


def _folder_keys(root: Path, split: str, kind: str) -> list[str]:
    folder = root / split / kind
    return sorted(p.name.split(".")[0] for p in folder.glob(f"*.{MODALITY_FILES[kind]}")) if folder.is_dir() else []


def _read_folder(root: Path, kind: str, split: str, resolution: int, progress: bool) -> np.ndarray:
    manifest = root / "manifest.json"
    if not manifest.is_file():
        raise ConfigError(f"data.path={root} is not an omnimask synth folder (no manifest.json)")
    written = json.loads(manifest.read_text()).get("resolution")
    if written != resolution:
        raise ConfigError(f"{root} was written at {written}x{written}, the recipe wants {resolution}; "
                          f"set data.resolution={written} or write a new folder")  # fmt: skip
    keys = _folder_keys(root, split, kind)
    if not keys:
        raise ConfigError(f"{root}/{split}/{kind} holds no maps")
    ext = MODALITY_FILES[kind]
    return np.stack([decode(kind, (root / split / kind / f"{k}.{ext}").read_bytes())
                     for k in tqdm(keys, desc=f"read {split}/{kind}", leave=False, disable=not progress)])  # fmt: skip


def _render_cached(cfg: TokenizerDataConfig, kind: str, split: str, progress: bool) -> np.ndarray:
    folder = Path(cfg.cache) / f"synth{cfg.resolution}_s{cfg.seed}_n{cfg.num_scenes}"
    path = folder / f"{split}_{kind}.npy"
    if path.is_file():
        return np.load(path)
    world = SynthWorldConfig(resolution=cfg.resolution)
    indices = np.arange(cfg.num_scenes)
    chosen = indices[assign_splits(cfg.seed, indices, DEFAULT_FRACTIONS) == SPLITS.index(split)]
    bar = tqdm(chosen, desc=f"render {split}", leave=False, disable=not progress)
    samples = [render_sample(cfg.seed, int(i), world) for i in bar]
    folder.mkdir(parents=True, exist_ok=True)
    out = None
    for k in MAP_KINDS:  # cache every map kind: the other tokenizers need them too
        arr = np.stack([s[k] for s in samples])
        tmp = folder / f"{split}_{k}.tmp.npy"
        np.save(tmp, arr)
        tmp.replace(folder / f"{split}_{k}.npy")
        out = arr if k == kind else out
    assert out is not None
    return out


def load_maps(cfg: TokenizerDataConfig, kind: str, split: str, progress: bool = True) -> np.ndarray:
    """The ``kind`` maps of ``split``: (S, H, W[, C]) in raw units (see :mod:`omnimask.data.synthworld`)."""
    if kind not in MAP_KINDS:
        raise ConfigError(f"no SynthWorld map {kind!r}; tokenizers train on {list(MAP_KINDS)}")
    if cfg.path:
        maps = _read_folder(Path(cfg.path), kind, split, cfg.resolution, progress)
    else:
        maps = _render_cached(cfg, kind, split, progress)
    limit = cfg.max_train if split == "train" else cfg.max_val
    return maps[:limit] if limit else maps


def flip_maps(maps: np.ndarray, kind: str, flip: torch.Tensor) -> np.ndarray:
    """Mirror the rows of ``maps`` (B, H, W[, C]) chosen by ``flip`` (B,) bool left–right.

    A mirrored normal map also mirrors its vectors: the x (right) component changes sign.
    """
    out = maps.copy()
    chosen = flip.numpy()
    out[chosen] = out[chosen][:, :, ::-1]
    if kind == "normal":
        out[chosen, ..., 0] *= -1
    return out


def sample_batch(maps: np.ndarray, kind: str, batch_size: int, generator: torch.Generator,
                 flip: bool) -> np.ndarray:
    """``batch_size`` maps drawn uniformly with replacement, each mirrored with probability ½ if ``flip``."""
    rows = torch.randint(0, len(maps), (batch_size,), generator=generator)
    batch = maps[rows.numpy()]
    if flip:
        batch = flip_maps(batch, kind, torch.rand(batch_size, generator=generator) < 0.5)
    return batch
