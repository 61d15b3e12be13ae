"""MiniCLIP labeler throughput and retrieval at other resolutions, as ratios measured in one run.

1. Feature extraction, images per second (one forward gives both the 8×8 patch features and the global
   embedding): 64 px, 128 px resized to 64 (the default), 128 px native (16×16 grid, position table
   resized); ratio to 64 px. Text embedding, captions per second.
2. Retrieval of freshly rendered SynthWorld scenes by their captions (R@1 / R@5 among ``--pool``) at
   64 px and at 128 px, both input modes — why ``resize`` is the default for other sizes.

Run from the repository root: ``python -m benchmarks.miniclip [--batch 256] [--iters 3] [--threads 1] [--pool 100]``.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from benchmarks.attention import timed
from omnimask.data.labelers import load_miniclip
from omnimask.training.miniclip import HELDOUT_START, render_pairs, retrieval_recall


def bench_throughput(batch: int, iters: int) -> None:
    print(f"\n1. feature extraction, batch {batch} (images/s, ratio to 64 px)")
    rng = np.random.default_rng(0)
    resize, native = load_miniclip(), load_miniclip(input_mode="native")
    cases = {
        "64 px -> 8x8": (resize, rng.integers(0, 256, (batch, 64, 64, 3), dtype=np.uint8)),
        "128 px resized -> 8x8": (resize, rng.integers(0, 256, (batch, 128, 128, 3), dtype=np.uint8)),
        "128 px native -> 16x16": (native, rng.integers(0, 256, (batch, 128, 128, 3), dtype=np.uint8)),
    }
    base = None
    for name, (labeler, rgb) in cases.items():
        rate = batch / timed(lambda labeler=labeler, rgb=rgb: labeler.features(rgb), iters)
        base = base or rate
        print(f"  {name:<24} {rate:9.0f} images/s   x{rate / base:.2f}")
    captions = [
        f"There are two objects on the checkered floor: a red cube and a blue sphere. {i}" for i in range(batch)
    ]
    rate = batch / timed(lambda: resize.encode_text(captions), iters)
    print(f"  {'text (17 words)':<24} {rate:9.0f} captions/s")


def bench_retrieval(pool: int) -> None:
    print(f"\n2. retrieval of {pool} fresh scenes by their captions (chance R@1 {1 / pool:.3f}, R@5 {5 / pool:.3f})")
    indices = range(HELDOUT_START + 20_000, HELDOUT_START + 20_000 + pool)
    for size, modes in ((64, ("resize",)), (128, ("resize", "native"))):
        rgb, captions = render_pairs(0, indices, 1, resolution=size)
        for mode in modes:
            labeler = load_miniclip(input_mode=mode)
            s = retrieval_recall(labeler.global_embedding(rgb), labeler.encode_text([c[0] for c in captions]), pool)
            scores = "   ".join(
                f"{d} R@1 {s[f'{d}_r@1']:.3f} R@5 {s[f'{d}_r@5']:.3f}" for d in ("text_to_image", "image_to_text")
            )
            print(f"  {size:>3} px {mode:<7} {scores}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--pool", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    bench_throughput(args.batch, args.iters)
    bench_retrieval(args.pool)


if __name__ == "__main__":
    main()
