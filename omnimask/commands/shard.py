"""``omnimask shard``: a folder dataset → per-modality tar shard sets (4M's released training layout)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "shard",
        help="convert a folder dataset into per-modality tar shards",
        description="Convert a pre-tokenized store (omnimask pretokenize) or a raw per-modality folder dataset "
        "(omnimask synth, or {split}/{modality}/{key}.{ext}) into shard sets OUT/{split}/{modality}/shard-NNNNN.tar "
        "with aligned keys and a manifest per split. Train on them with --set data.source=shards "
        "--set data.path=OUT (a folder, an fsspec URL such as s3://bucket/OUT, or 'pipe:CMD ... {file} ...').",
    )
    p.add_argument("dataset", help="dataset folder (or one split of it)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--samples-per-shard", type=int, default=1000, help="samples per tar (default 1000)")
    p.add_argument(
        "--shuffle-seed",
        type=int,
        default=None,
        help="shuffle samples across shards with this seed before writing (default: keep order)",
    )
    p.add_argument("--workers", type=int, default=1, help="parallel writer processes (default 1)")
    p.add_argument("--split", default="train", help="split name when DATASET is a single split (default train)")
    p.add_argument("--verify", action="store_true", help="read every shard back and check keys and counts")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from omnimask.data.shard_reader import ShardSet, read_all
    from omnimask.data.shard_writer import shard_dataset

    manifests = shard_dataset(
        args.dataset, args.out, args.samples_per_shard, args.shuffle_seed, args.workers, args.split
    )
    for split, m in manifests.items():
        dropped = f", {m['dropped_keys']} key(s) missing a modality left out" if m["dropped_keys"] else ""
        print(
            f"{split}: {m['samples']} samples in {m['shards']} shard(s) x {len(m['modalities'])} modalities "
            f"({', '.join(f'{k}.{e}' for k, e in m['modalities'].items())}){dropped}"
        )
        if args.verify:
            count = sum(1 for _ in read_all(ShardSet.open(f"{args.out}/{split}")))
            if count != m["samples"]:
                print(f"{split}: read back {count} samples, expected {m['samples']}")
                return 1
            print(f"{split}: verified")
    print(f"shards in {args.out}")
    return 0
