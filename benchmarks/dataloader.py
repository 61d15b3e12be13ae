"""Sharded data loader throughput against what training consumes (the ``synth_tiny`` recipe).

Writes a random pre-tokenized store with the recipe's modalities, shards it (``omnimask shard``'s
writer), then measures in this one run:

* raw shard reading: samples/s of :class:`~omnimask.data.shard_reader.ShardSource` (tar decode + key
  alignment + shuffle buffer, no masking);
* the full training pipeline: samples/s of masked, collated batches from the shards, with 0 and N
  DataLoader workers;
* what training consumes: samples/s of the recipe's optimizer steps (forward, backward, AdamW) on
  batches from the same data;

and prints the ratio loader / consumer (the loader should be ≥ 10× faster, so data never stalls a
step). Usage: ``python -m benchmarks.dataloader [--samples 2048] [--workers 2] [--steps 8]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Mapping
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import torch

from omnimask.config import apply_overrides
from omnimask.data.shard_reader import ShardSet, ShardSource
from omnimask.data.shard_writer import shard_dataset
from omnimask.data.token_store import TokenStore
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
            out[name] = [rng.integers(10, spec.vocab_size, int(rng.integers(1, length + 1))) for _ in range(pieces)]
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
    parser.add_argument("--batches", type=int, default=30, help="batches timed per loader setting")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of the parallel setting")
    parser.add_argument("--steps", type=int, default=8, help="optimizer steps timed for the consumer")
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

    loader_rates = {}
    for workers in sorted({0, args.workers}):
        overrides = [f"data.path={tmp / 'shards'}", "data.source=shards", f"data.num_workers={workers}"]
        cfg = apply_overrides(base, overrides)  # path before source: each override is validated in turn
        stream = build_data(cfg).train_batches(0, batch)
        for _ in range(2):  # warm-up (worker start, buffer fill)
            next(stream)
        t0 = time.perf_counter()
        for _ in range(args.batches):
            next(stream)
        loader_rates[workers] = count / (time.perf_counter() - t0)
        print(
            f"masked batches, {workers} workers {rate(count, count / loader_rates[workers])}  (reading, 4M masking "
            "and collation)"
        )

    from omnimask.training.loop import Trainer

    trainer = Trainer(apply_overrides(base, [f"data.path={tmp / 'store'}", "data.source=store"]))
    batches = trainer.data.train_batches(0, batch)
    micro = [next(batches) for _ in range(args.steps + 2)]
    times = []
    for i, b in enumerate(micro):
        t0 = time.perf_counter()
        trainer.train_step([b])
        if i >= 2:  # warm-up
            times.append(time.perf_counter() - t0)
    consume = batch / statistics.median(times)
    print(
        f"training consumes      {rate(batch, batch / consume)}  ({args.recipe}, batch {batch}, "
        f"{base.precision}, median of {len(times)} steps)"
    )
    best = max(loader_rates.values())
    print(
        f"loader / consumer: {best / consume:.1f}x with the best setting, {loader_rates[0] / consume:.1f}x in the "
        f"training process itself (0 workers); target >= 10x. This machine: {os.cpu_count()} CPUs, load "
        f"{os.getloadavg()[0]:.1f}, {torch.get_num_threads()} torch thread(s)."
    )


if __name__ == "__main__":
    main()
