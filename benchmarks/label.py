"""``omnimask label`` throughput per labeler, in images per second, on real photographs.

The photographs are matplotlib's sample photos (``mpl-data/sample_data``), each saved ``--copies``
times with a different crop and size (so every file decodes anew, 0.3–1.2 MP), labelled at 64 px by
every weight-free labeler and the ``synth_small`` stand-in; the rates come from ``report.json``
(labelling time only; reading and cropping are counted once, as "read").

Run from the repository root: ``python -m benchmarks.label [--copies 64] [--threads 1]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import matplotlib
import numpy as np
import torch
from PIL import Image

import omnimask.generation.standin  # noqa: F401  (registers synth_small)
from omnimask.data.labelers.registry import load_image_labeler
from omnimask.data.labelling import image_files, label_folder
from omnimask.images import crop_photo, read_image

PHOTOS = ("grace_hopper.jpg", "Minduka_Present_Blue_Pack.png")
LABELERS = ("metadata", "color_palette", "canny", "faces", "synth_small")


def make_photos(folder: Path, copies: int) -> None:
    rng = np.random.default_rng(0)
    for name in PHOTOS:
        src = Image.open(Path(matplotlib.get_data_path()) / "sample_data" / name).convert("RGB")
        for i in range(copies):
            w, h = src.size
            left, top = int(rng.integers(0, w // 6)), int(rng.integers(0, h // 6))
            crop = src.crop((left, top, w - int(rng.integers(0, w // 6)), h - int(rng.integers(0, h // 6))))
            scale = float(rng.uniform(1.0, 2.0))
            crop.resize((int(crop.width * scale), int(crop.height * scale))).save(folder / f"{Path(name).stem}_{i}.jpg")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        photos = Path(tmp) / "photos"
        photos.mkdir()
        make_photos(photos, args.copies)
        files = image_files(photos)
        start = time.perf_counter()
        for path in files:
            crop_photo(read_image(path), 64)
        read_rate = len(files) / (time.perf_counter() - start)
        labelers = [load_image_labeler(n) for n in LABELERS]
        report = label_folder(photos, Path(tmp) / "ds", labelers, resolution=64, workers=1, progress=False)
    print(f"{len(files)} photos, {args.threads} thread(s)")
    print(f"  {'read + crop':14s} {read_rate:8.1f} images/s")
    for name, stats in report["labelers"].items():
        print(f"  {name:14s} {stats['images_per_s']:8.1f} images/s")


if __name__ == "__main__":
    main()
