"""A folder of photos → a dataset in ``omnimask synth``'s layout, labelled by :class:`ImageLabeler` s.

Layout (what ``pretokenize``, ``shard``, ``train`` and ``finetune`` read)::

    OUT/manifest.json                    source "images", resolution, splits, modalities, labelers
    OUT/report.json                      files skipped (and why), per-labeler counts and seconds
    OUT/{split}/{modality}/{key}.{ext}   formats of :mod:`omnimask.data.synthworld.writer`

Every image under ``IMAGES_DIR`` (recursively, :data:`~omnimask.images.IMAGE_SUFFIXES`) becomes
one sample: its key is its relative path with every character outside ``[A-Za-z0-9_-]`` turned into
``_`` (``holiday/IMG 1.jpg`` → ``holiday_IMG_1_jpg``), its split a hash of the key (so adding photos
never moves the old ones), its ``rgb`` the centred square at ``resolution``. Unreadable files are
skipped and listed in the report; nothing aborts the run. Files are written atomically and a rerun
labels only the samples that miss a file (resume); a folder holding another dataset is refused.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from omnimask.config import ConfigError
from omnimask.data.labelers.base import ImageLabeler
from omnimask.data.synthworld.dataset import DEFAULT_FRACTIONS, SPLITS
from omnimask.data.synthworld.writer import MODALITY_FILES, encode
from omnimask.files import write_bytes, write_json
from omnimask.images import IMAGE_SUFFIXES, MAX_PIXELS, Crop, ImageError, crop_photo, read_image
from omnimask.progress import tqdm

SOURCE = "images"
LAYOUT = "{split}/{modality}/{key}.{ext}"


def image_files(images: Path) -> list[Path]:
    """Every image file under ``images`` (recursively), sorted; hidden files and folders skipped."""
    if not images.is_dir():
        raise ConfigError(f"{images} is not a folder of images")
    files = sorted(p for p in images.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                   and not any(part.startswith(".") for part in p.relative_to(images).parts))
    if not files:
        raise ConfigError(f"{images} holds no images (looked for {', '.join(IMAGE_SUFFIXES)}, recursively)")
    return files


def image_key(images: Path, path: Path) -> str:
    """The sample key of ``path`` (see the module docstring)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", str(path.relative_to(images)))


def key_split(key: str, fractions: Sequence[float] = DEFAULT_FRACTIONS) -> str:
    """The split of ``key``: a SHA-256 of it, as a fraction, against the cumulative ``fractions``."""
    u = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64
    edge = 0.0
    for split, fraction in zip(SPLITS, fractions):
        edge += fraction
        if u < edge:
            return split
    return SPLITS[-1]


def _manifest(images: Path, resolution: int, labelers: Sequence[ImageLabeler], fractions: Sequence[float],
              splits: Mapping[str, int], complete: bool) -> dict[str, Any]:
    writes = ["rgb", *(m for lab in labelers for m in lab.writes)]
    return {
        "source": SOURCE,
        "complete": complete,
        "images": str(images.resolve()),
        "resolution": resolution,
        "crop": "centred square, resized (Lanczos)",
        "splits": dict(splits),
        "split_fractions": list(fractions),
        "layout": LAYOUT,
        "keys": "relative path of the photo, characters outside [A-Za-z0-9_-] as _",
        "modalities": {m: MODALITY_FILES[m] for m in writes},
        "labelers": {lab.name: {"writes": list(lab.writes), "standin": lab.standin} for lab in labelers},
        "max_pixels": MAX_PIXELS,
    }


def _check_same(path: Path, fresh: dict[str, Any]) -> None:
    old = json.loads(path.read_text())
    for key in ("source", "images", "resolution", "split_fractions", "labelers"):
        if old.get(key) != fresh[key]:
            raise ConfigError(f"{path.parent} already holds a dataset with {key}={old.get(key)!r}, not "
                              f"{fresh[key]!r}; rerun with the same settings to resume it, or choose another --out")


def _check_writes(labelers: Sequence[ImageLabeler]) -> None:
    seen: dict[str, str] = {}
    for lab in labelers:
        for m in lab.writes:
            if m not in MODALITY_FILES or m in ("rgb", "scene"):
                raise ConfigError(f"labeler {lab.name} writes {m!r}, which is not a dataset modality "
                                  f"({sorted(set(MODALITY_FILES) - {'rgb', 'scene'})})")
            if m in seen:
                raise ConfigError(f"labelers {seen[m]} and {lab.name} both write {m!r}; keep one")
            seen[m] = lab.name


def _read(path: Path, resolution: int) -> Crop | str:
    try:
        return crop_photo(read_image(path), resolution)
    except ImageError as err:
        return str(err)


def _batches(items: list[tuple[str, Path]], size: int) -> Iterator[list[tuple[str, Path]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def label_folder(images: str | Path, out: str | Path, labelers: Sequence[ImageLabeler], *, resolution: int = 64,
                 fractions: Sequence[float] = DEFAULT_FRACTIONS, workers: int = 1, batch: int = 16,
                 progress: bool = True) -> dict[str, Any]:
    """Label every photo under ``images`` into ``out`` (see the module docstring); returns the report."""
    images, out = Path(images), Path(out)
    if not 16 <= resolution <= 1024:
        raise ConfigError(f"--resolution {resolution}: use a side between 16 and 1024 pixels")
    _check_writes(labelers)
    files = image_files(images)
    keys = [(image_key(images, p), p) for p in files]
    fresh = _manifest(images, resolution, labelers, fractions, {}, complete=False)
    if (out / "manifest.json").is_file():
        _check_same(out / "manifest.json", fresh)
    elif out.is_dir() and any(out.iterdir()):
        raise ConfigError(f"{out} is not empty and holds no omnimask dataset; choose an empty or new --out")
    modalities = list(fresh["modalities"])
    for split in SPLITS:
        for m in modalities:
            (out / split / m).mkdir(parents=True, exist_ok=True)
    write_json(out / "manifest.json", fresh)

    def files_of(key: str) -> dict[str, Path]:
        split = key_split(key, fractions)
        return {m: out / split / m / f"{key}.{MODALITY_FILES[m]}" for m in modalities}

    todo = [(k, p) for k, p in keys if not all(f.is_file() for f in files_of(k).values())]
    skipped: list[dict[str, str]] = []
    seconds = {lab.name: 0.0 for lab in labelers}
    written = {lab.name: 0 for lab in labelers}
    bar = tqdm(total=len(keys), initial=len(keys) - len(todo), desc="label", unit="image", disable=not progress)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:  # decoding releases the GIL
        for chunk in _batches(todo, batch):
            read = list(pool.map(lambda item: _read(item[1], resolution), chunk))
            good = [(k, c) for (k, p), c in zip(chunk, read) if isinstance(c, Crop)]
            skipped += [{"file": str(p.relative_to(images)), "reason": c} for (k, p), c in zip(chunk, read)
                        if isinstance(c, str)]
            rows: list[dict[str, Any]] = [{"rgb": c.rgb} for _, c in good]
            for lab in labelers:
                if not good:
                    break
                start = time.perf_counter()
                for row, values in zip(rows, lab.label([c for _, c in good])):
                    row.update({m: values[m] for m in lab.writes})
                seconds[lab.name] += time.perf_counter() - start
                written[lab.name] += len(good)
            for (key, _), row in zip(good, rows):
                paths = files_of(key)
                for m in sorted(paths, key=lambda m: m == "rgb"):  # rgb last: its file lists the sample
                    write_bytes(paths[m], encode(m, row[m]))
            bar.update(len(chunk))
    bar.close()
    counts = {s: sum(1 for _ in (out / s / "rgb").glob("*.png")) for s in SPLITS}
    report = {
        "images": len(keys),
        "labelled_now": len(todo) - len(skipped),
        "skipped": skipped,
        "labelers": {name: {"images": written[name], "seconds": round(seconds[name], 3),
                            "images_per_s": round(written[name] / seconds[name], 1) if seconds[name] else None}
                     for name in written},
        "splits": counts,
    }
    write_json(out / "report.json", report)
    write_json(out / "manifest.json", _manifest(images, resolution, labelers, fractions, counts, complete=True))
    return report
