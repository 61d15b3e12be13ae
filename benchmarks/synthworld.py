"""SynthWorld rendering throughput: scenes per second at 64×64 and 128×128, one process and a pool.

Every scene is rendered with all modalities (maps, boxes, caption, palette, metadata), exactly as
``omnimask synth`` does, but nothing is written to disk. The ratios printed (pool vs one process,
128 vs 64) come from the same run, so a loaded machine shifts both sides alike; the one-process
rate per CPU-second shows what the code does when it has a core to itself. Usage::

    python benchmarks/synthworld.py [--scenes 200] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import time

from omnimask.data.synthworld import SynthWorldConfig, render_sample
from omnimask.data.synthworld.writer import worker_pool


def _render_range(job: tuple[int, int, int]) -> int:
    start, stop, resolution = job
    cfg = SynthWorldConfig(resolution=resolution)
    for index in range(start, stop):
        render_sample(0, index, cfg)
    return stop - start


def scenes_per_second(resolution: int, scenes: int, workers: int) -> tuple[float, float]:
    """(wall-clock, per-CPU-second) throughput of ``scenes`` scenes at ``resolution`` on ``workers`` processes.

    The CPU-second rate counts this process only, so it is ``nan`` for a pool.
    """
    chunk = max(1, scenes // (8 * workers))
    jobs = [(i, min(i + chunk, scenes), resolution) for i in range(0, scenes, chunk)]
    if workers == 1:
        _render_range((scenes, scenes + 2, resolution))  # warm-up
        start, cpu = time.perf_counter(), time.process_time()
        done = sum(_render_range(job) for job in jobs)
        return done / (time.perf_counter() - start), done / (time.process_time() - cpu)
    with worker_pool(workers) as pool:
        pool.map(_render_range, [(scenes + w, scenes + w + 1, resolution) for w in range(workers)])  # warm-up
        start = time.perf_counter()
        done = sum(pool.imap_unordered(_render_range, jobs))
        return done / (time.perf_counter() - start), float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=200, help="scenes per measurement (default 200)")
    parser.add_argument("--workers", type=int, default=2, help="processes of the pool measurement (default 2)")
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"SynthWorld throughput, {args.scenes} scenes each, {os.cpu_count()} CPUs, load average {load:.2f}")
    rates = {}
    for resolution in (64, 128):
        one, per_cpu = scenes_per_second(resolution, args.scenes, 1)
        pool, _ = scenes_per_second(resolution, args.scenes, args.workers)
        rates[resolution] = pool
        print(
            f"  {resolution:>3}x{resolution:<3}  1 process: {one:6.1f} scenes/s ({per_cpu:.1f} per CPU-second)"
            f"   {args.workers} processes: {pool:6.1f} scenes/s (x{pool / one:.2f})"
        )
    print(f"  128x128 vs 64x64 ({args.workers} processes): x{rates[128] / rates[64]:.2f}")
    print(f"  10,000 scenes at 64x64 with {args.workers} processes: ~{10_000 / rates[64] / 60:.1f} min")


if __name__ == "__main__":
    main()
