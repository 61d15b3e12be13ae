"""SynthWorld on disk: the per-modality file layout, the manifest, resumable parallel writing, reading.

Layout (``DIR`` is ``omnimask synth --out``)::

    DIR/manifest.json                     counts, seed, resolution, tables, formats, generator version
    DIR/config.json                       the resolved run configuration
    DIR/{split}/{modality}/{key}.{ext}    split in train/val/test, key = 6-digit scene index

File formats (4M's conventions where it has one):

=============  =====  ======================================================================
rgb            png    8-bit RGB
depth          png    16-bit grey, z-depth in millimetres (metres = value / 1000); 0 = sky
normal         png    8-bit RGB, ``round((n + 1) / 2 · 255)`` per camera-frame axis; sky = 128
semseg         png    8-bit grey semantic class ids (manifest ``semantic_classes``)
instance       png    8-bit grey instance ids (0 background, k + 1 object k)
edges          png    8-bit grey, 255 on occlusion edges
det            json   list of {class, colour, material, instance, box, pixels, visible_fraction}
caption        txt    one UTF-8 line
color_palette  json   {"colors": [[r, g, b], ...], "fractions": [...]}
metadata       json   4M-21 metadata keys → values
scene          json   the scene graph (camera, light, wall, objects)
=============  =====  ======================================================================

Every file is written under a temporary name and renamed into place, so an interrupted run leaves
only whole files; a rerun skips every key whose files all exist (resume). Workers render disjoint
chunks of keys; since each sample depends only on (seed, index, config), the bytes do not depend on
the number of workers.
"""

from __future__ import annotations

import contextlib
import io
import json
import multiprocessing
import multiprocessing.pool
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from omnimask.config import ConfigError, from_dict, to_dict
from omnimask.data.synthworld.config import (
    COLORS,
    GENERATOR_VERSION,
    MATERIALS,
    SEMANTIC_CLASSES,
    SHAPES,
    SynthWorldConfig,
)
from omnimask.data.synthworld.dataset import DEFAULT_FRACTIONS, SPLITS, assign_splits, render_sample, sample_key
from omnimask.files import write_bytes, write_json

#: Modality → file extension; the order is the order files are written.
MODALITY_FILES: dict[str, str] = {
    "rgb": "png",
    "depth": "png",
    "normal": "png",
    "semseg": "png",
    "instance": "png",
    "edges": "png",
    "det": "json",
    "caption": "txt",
    "color_palette": "json",
    "metadata": "json",
    "scene": "json",
}
DEPTH_SCALE = 1000.0  # PNG units per metre


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def encode(modality: str, value) -> bytes:
    """The file bytes of one modality value (see the module docstring for the formats)."""
    if modality == "depth":
        return _png(np.clip(np.rint(value * DEPTH_SCALE), 0, 65535).astype(np.uint16))
    if modality == "normal":
        return _png(np.rint((np.clip(value, -1, 1) + 1) * 127.5).astype(np.uint8))
    if modality == "edges":
        return _png(np.where(value, 255, 0).astype(np.uint8))
    if modality in ("rgb", "semseg", "instance"):
        return _png(value)
    if modality == "caption":
        return (value + "\n").encode("utf-8")
    return (json.dumps(value, sort_keys=False) + "\n").encode("utf-8")


def decode(modality: str, data: bytes):
    """Inverse of :func:`encode` (depth back to float32 metres, normals to float32 in [-1, 1])."""
    if MODALITY_FILES[modality] == "png":
        array = np.asarray(Image.open(io.BytesIO(data)))
        if modality == "depth":
            return (array.astype(np.float32) / DEPTH_SCALE).astype(np.float32)
        if modality == "normal":
            return (array.astype(np.float32) / 127.5 - 1.0).astype(np.float32)
        if modality == "edges":
            return array > 127
        return array
    text = data.decode("utf-8")
    return text.rstrip("\n") if modality == "caption" else json.loads(text)


def sample_paths(root: str | Path, split: str, key: str) -> dict[str, Path]:
    """Where each modality of sample ``key`` lives under ``root``."""
    root = Path(root)
    return {m: root / split / m / f"{key}.{ext}" for m, ext in MODALITY_FILES.items()}


def load_sample(root: str | Path, split: str, key: str, modalities: Iterable[str] | None = None) -> dict:
    """Read the modalities (default: all) of one written sample back (see :func:`decode`)."""
    paths = sample_paths(root, split, key)
    return {m: decode(m, paths[m].read_bytes()) for m in (modalities if modalities is not None else paths)}


def manifest(num: int, seed: int, cfg: SynthWorldConfig, fractions: Sequence[float], complete: bool) -> dict:
    """The manifest of a dataset of ``num`` scenes (counts per split, tables, formats, provenance)."""
    counts = np.zeros(len(SPLITS), dtype=np.int64)
    for start in range(0, num, 1 << 20):  # in blocks: memory bounded for any num
        block = assign_splits(seed, np.arange(start, min(num, start + (1 << 20))), fractions)
        counts += np.bincount(block, minlength=len(SPLITS))
    return {
        "generator_version": GENERATOR_VERSION,
        "complete": complete,
        "num": num,
        "seed": seed,
        "resolution": cfg.resolution,
        "splits": {s: int(c) for s, c in zip(SPLITS, counts)},
        "split_fractions": list(fractions),
        "layout": "{split}/{modality}/{key}.{ext}",
        "keys": "six-digit zero-padded scene index; split chosen by a hash of (seed, index)",
        "modalities": MODALITY_FILES,
        "depth": {"unit": "millimetre", "scale": DEPTH_SCALE, "invalid": 0, "kind": "z-depth"},
        "normal": {"frame": "camera: x right, y up, z toward the camera", "encoding": "round((n + 1) * 127.5)"},
        "semantic_classes": list(SEMANTIC_CLASSES),
        "shapes": list(SHAPES),
        "colors": {name: list(rgb) for name, rgb in COLORS.items()},
        "materials": list(MATERIALS),
        "instance_ids": "0 background (sky, floor, wall); k + 1 for the k-th object of the scene",
        "config": to_dict(cfg),
    }


def _check_compatible(path: Path, fresh: dict) -> None:
    old = json.loads(path.read_text())
    for key in ("generator_version", "seed", "split_fractions", "config"):
        if old.get(key) != fresh[key]:
            raise ConfigError(
                f"{path.parent} already holds a SynthWorld dataset with {key}={old.get(key)!r}, but this run "
                f"asks for {fresh[key]!r}; pass the same settings to resume it, or choose another --out"
            )


#: Thread-pool variables of the BLAS / OpenMP runtimes numpy may load; see :func:`worker_pool`.
_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@contextlib.contextmanager
def worker_pool(workers: int) -> Iterator[multiprocessing.pool.Pool]:
    """A pool of ``workers`` spawned processes whose numpy runs single-threaded.

    Rendering multiplies (N, 3) arrays by 3×3 matrices; a threaded BLAS in every worker would
    oversubscribe the cores (its threads spin while they wait), so the workers start with the
    thread-pool variables set to 1. The parent's environment is restored afterwards.
    """
    saved = {k: os.environ.get(k) for k in _THREAD_VARS}
    os.environ.update({k: "1" for k in _THREAD_VARS})
    try:
        pool = multiprocessing.get_context("spawn").Pool(workers)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    with pool:
        yield pool


def _write_keys(job: tuple[str, int, dict, list[float], list[int]]) -> int:
    """Render and write the given scene indices (runs in a worker process); returns how many."""
    root, seed, cfg_dict, fractions, indices = job
    cfg = from_dict(SynthWorldConfig, cfg_dict)
    splits = assign_splits(seed, np.asarray(indices), fractions)
    for index, split in zip(indices, splits):
        sample = render_sample(seed, index, cfg)
        for modality, path in sample_paths(root, SPLITS[split], sample_key(index)).items():
            write_bytes(path, encode(modality, sample[modality]))
    return len(indices)


#: Scene indices checked (and queued) at a time by :func:`write_dataset`.
SCAN_BLOCK = 4096


def write_dataset(
    root: str | Path,
    num: int,
    *,
    seed: int = 0,
    cfg: SynthWorldConfig | None = None,
    workers: int = 1,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    progress: bool = True,
) -> tuple[dict, int]:
    """Write (or finish writing) scenes ``0 .. num-1``; returns (manifest, number of scenes written now).

    Scenes already complete on disk are skipped, so calling this again after an interruption, or
    with a larger ``num``, only renders what is missing.
    """
    from omnimask.progress import tqdm

    cfg = cfg or SynthWorldConfig()
    root = Path(root)
    if num < 0 or workers < 1:
        raise ConfigError(f"num={num} must be >= 0 and workers={workers} >= 1")
    fractions = [float(f) for f in fractions]
    info = manifest(num, seed, cfg, fractions, complete=False)
    manifest_path = root / "manifest.json"
    if manifest_path.exists():
        _check_compatible(manifest_path, info)
    for split in SPLITS:
        for modality in MODALITY_FILES:
            folder = root / split / modality
            folder.mkdir(parents=True, exist_ok=True)
            for stale in folder.glob(".*.tmp"):  # half-written files of an interrupted run
                stale.unlink(missing_ok=True)
    write_json(manifest_path, info)

    chunk = max(1, min(64, num // (4 * workers) or 1))
    written = 0
    pool = None  # started when there is parallel work
    with tqdm(total=num, desc="synthworld", unit="scene", disable=not progress) as bar, \
            contextlib.ExitStack() as stack:
        for start in range(0, num, SCAN_BLOCK):  # memory and start-up time bounded by the block, not by num
            indices = np.arange(start, min(num, start + SCAN_BLOCK))
            splits = assign_splits(seed, indices, fractions)
            todo = [int(i) for i, s in zip(indices, splits)
                    if not all(p.exists() for p in sample_paths(root, SPLITS[s], sample_key(int(i))).values())]
            bar.update(len(indices) - len(todo))
            jobs = [(str(root), seed, to_dict(cfg), fractions, todo[i : i + chunk]) for i in range(0, len(todo), chunk)]
            if pool is None and workers > 1 and len(jobs) > 1:
                pool = stack.enter_context(worker_pool(workers))
            for done in (map(_write_keys, jobs) if pool is None or len(jobs) <= 1
                         else pool.imap_unordered(_write_keys, jobs)):
                bar.update(done)
                written += done
    info["complete"] = True
    write_json(manifest_path, info)
    return info, written
