"""Sharded data loader throughput against what training consumes (the ``synth_tiny`` recipe).

Writes a random pre-tokenized store with the recipe's modalities, shards it (``omnimask shard``'s
writer), then measures in this one run:

* raw shard reading: samples/s of :class:`~omnimask.data.shard_reader.ShardSource` (tar decode + key
  alignment + shuffle buffer, no masking);
* the full training pipeline in the training process (0 DataLoader workers): samples/s of masked,
  collated batches from the shards (reading, pixel normalisation, 4M masking, collation);
* what training consumes: samples/s of the recipe's optimizer steps (forward, backward, AdamW) on
  batches from the same data;
* the pipeline again with ``--workers`` DataLoader workers (wall clock only).

The 0-worker loader and the consumer are timed *interleaved* (``--rounds`` rounds of a few loader
batches, then one optimizer step), so load from other processes hits both alike; rates are medians
over rounds, by wall clock and by this process's CPU time (the CPU ratio is the steadiest on a busy
machine). The headline is ``loader / consumer`` with 0 workers: the loader should be ≥ 10× faster,
so data never stalls a step even without worker processes. Usage:
``python -m benchmarks.dataloader [--samples 2048] [--workers 2] [--rounds 10]`` (set
``OMP_NUM_THREADS=1`` on a shared machine).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Iterator, Mapping
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import torch

from omnimask.config import apply_overrides
from omnimask.data.shard_reader import ShardSet, ShardSource
from omnimask.data.shard_writer import shard_dataset
from omnimask.data.token_store import TokenStore
from omnimask.masking import NUM_SPECIAL_TOKENS
from omnimask.modalities import ModalitySpec
from omnimask.recipes import get_recipe
from omnimask.training.setup import build_data


def random_sample(specs: Mapping[str, ModalitySpec], rng: np.random.Generator) -> dict[str, Any]:
    """One raw pre-tokenized sample with random content of every modality's kind and size."""
    out: dict[str, Any] = {}
    for name, spec in specs.items():
        if spec.kind in ("image_tokens", "global_tokens"):
            out[name] = rng.integers(0, spec.vocab_size, spec.num_tokens)
        elif spec.kind == "pixels":
            h, w = spec.grid or (1, 1)
            size = spec.patch_size or 1
            out[name] = rng.integers(0, 256, (h * size, w * size, spec.channels), dtype=np.uint8)
        elif spec.kind == "sequence":
            pieces = int(rng.integers(1, 4))
            length = max(1, (spec.num_tokens - 1) // pieces)
            ids = (NUM_SPECIAL_TOKENS, spec.vocab_size)  # real text ids: never [PAD], [EOS] or a sentinel
            out[name] = [rng.integers(*ids, int(rng.integers(1, length + 1))) for _ in range(pieces)]
        else:
            raise ValueError(f"no random {spec.kind} samples; {name} cannot be benchmarked")
    return out


def random_store(specs: Mapping[str, ModalitySpec], num: int, root: Path, seed: int = 0) -> Path:
    """A pre-tokenized store (``root/train``) of ``num`` random samples."""
    rng = np.random.default_rng(seed)
    samples = [random_sample(specs, rng) for _ in range(num)]
    vocab = {n: s.vocab_size for n, s in specs.items()}
    TokenStore.from_samples([f"{i:07d}" for i in range(num)], samples, vocab).save(root / "train")
    return root


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:8.0f} samples/s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="synth_tiny")
    parser.add_argument("--samples", type=int, default=2048, help="samples in the random dataset")
    parser.add_argument("--samples-per-shard", type=int, default=256)
    parser.add_argument("--batches", type=int, default=30, help="batches timed with --workers workers")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of the parallel setting (0: skip)")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds (one optimizer step each)")
    parser.add_argument("--batches-per-round", type=int, default=4, help="loader batches timed per round")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="omnimask-loader-"))
    base = apply_overrides(get_recipe(args.recipe), [f"out_dir={tmp / 'run'}", "progress=false", *args.overrides])
    specs = base.model.specs()
    random_store(specs, args.samples, tmp / "store")
    t0 = time.perf_counter()
    shard_dataset(tmp / "store", tmp / "shards", samples_per_shard=args.samples_per_shard)
    print(
        f"wrote {args.samples} samples as {-(-args.samples // args.samples_per_shard)} shards x {len(specs)} "
        f"modalities in {time.perf_counter() - t0:.1f} s"
    )
    batch = base.batch_size

    source = ShardSource(ShardSet.open(str(tmp / "shards" / "train"), specs), shuffle_buffer=base.data.shuffle_buffer)
    count = args.batches * batch
    samples = source.iterate(0)
    next(samples)  # fills the shuffle buffer
    t0 = time.perf_counter()
    for _ in islice(samples, count):
        pass
    print(f"raw shard reading      {rate(count, time.perf_counter() - t0)}")

    from omnimask.training.loop import Trainer

    def stream(workers: int) -> Iterator[Any]:
        overrides = [f"data.path={tmp / 'shards'}", "data.source=shards", f"data.num_workers={workers}"]
        cfg = apply_overrides(base, overrides)  # path before source: each override is validated in turn
        batches = build_data(cfg).train_batches(0, batch)
        for _ in range(2):  # warm-up (worker start, buffer fill)
            next(batches)
        return batches

    trainer = Trainer(apply_overrides(base, [f"data.path={tmp / 'store'}", "data.source=store"]))
    train_batches = trainer.data.train_batches(0, batch)
    micro = [next(train_batches) for _ in range(args.rounds + 2)]
    for b in micro[:2]:  # warm-up
        trainer.train_step([b])
    loader = stream(0)
    per = args.batches_per_round
    loader_wall, loader_cpu, step_wall, step_cpu = [], [], [], []
    for b in micro[2:]:
        w0, c0 = time.perf_counter(), time.process_time()
        for _ in range(per):
            next(loader)
        w1, c1 = time.perf_counter(), time.process_time()
        trainer.train_step([b])
        w2, c2 = time.perf_counter(), time.process_time()
        loader_wall.append(per * batch / (w1 - w0))
        loader_cpu.append(per * batch / max(c1 - c0, 1e-9))
        step_wall.append(batch / (w2 - w1))
        step_cpu.append(batch / max(c2 - c1, 1e-9))
    median = statistics.median
    print(
        f"masked batches, 0 workers {rate(1, 1 / median(loader_wall))}  (reading, pixel normalisation, 4M masking, "
        f"collation; {1e6 / median(loader_cpu):.0f} µs CPU per sample)"
    )
    print(
        f"training consumes      {rate(1, 1 / median(step_wall))}  ({args.recipe}, batch {batch}, {base.precision}; "
        f"{1e3 * batch / median(step_cpu):.0f} ms CPU per step)"
    )
    wall_ratio = median(a / b for a, b in zip(loader_wall, step_wall))
    cpu_ratio = median(a / b for a, b in zip(loader_cpu, step_cpu))
    if args.workers:
        parallel = stream(args.workers)
        t0 = time.perf_counter()
        for _ in range(args.batches):
            next(parallel)
        workers_rate = args.batches * batch / (time.perf_counter() - t0)
        print(
            f"masked batches, {args.workers} workers {rate(1, 1 / workers_rate)}  (wall clock, after the interleaved "
            f"rounds: {workers_rate / median(step_wall):.1f}x the consumer's median)"
        )
    print(
        f"loader / consumer with 0 workers: {wall_ratio:.1f}x by wall clock, {cpu_ratio:.1f}x by CPU time (medians "
        f"of {len(micro) - 2} interleaved rounds); target >= 10x. This machine: {os.cpu_count()} CPUs, load "
        f"{os.getloadavg()[0]:.1f}, {torch.get_num_threads()} torch thread(s)."
    )


if __name__ == "__main__":
    main()
