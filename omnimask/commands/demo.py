"""``omnimask demo``: the main job — a trained SynthWorld 4M at work, as an HTML page with figures.

Loads the shipped model (``omnimask/assets/models/synth_small``; no training, no download) or the
model folder given with ``--model``, and writes into ``--out``: ``index.html`` and one PNG per
figure — RGB → all (chained), caption → all, a box that moves while the RGB follows, a segmentation
edit, a guidance sweep, metadata steering and retrieval — each labelled, with its conditions, plan,
seed and timing. Without a model it renders SynthWorld scenes instead (``preview.png``,
``summary.txt``) and says how to get one::

    omnimask demo --out out/demo
    omnimask demo --model runs/synth_small/checkpoint --seed 1 --num 3
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` subcommand."""
    p = subparsers.add_parser(
        "demo",
        help="show a trained SynthWorld model at work: an HTML page with figures",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    p.add_argument("--model", default=None, metavar="DIR",
                   help="model folder (model.safetensors + config.json + tokenizers/); default: the shipped model")
    p.add_argument("--seed", type=int, default=0, help="world seed of the scenes and generation seed (default 0)")
    p.add_argument("--num", type=int, default=3, help="scenes or captions per figure (default 3)")
    p.add_argument("--figures", default=None, help="comma-separated figure numbers or names to make (default all)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default 1: the shipped 7 M-parameter model gains little from more, and on a "
                        "busy 2-core machine 2 threads made the demo 8x slower than 1)")
    p.add_argument("--resolution", type=int, default=64,
                   help="image side of the SynthWorld preview when there is no model (default 64)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute ``omnimask demo`` with parsed arguments; returns the exit code."""
    from omnimask.config import ConfigError
    from omnimask.demo import build_demo

    if args.num < 1:
        raise ConfigError(f"--num {args.num}: the demo needs at least one scene")
    if args.threads < 1:
        raise ConfigError(f"--threads {args.threads}: give at least one thread")
    import torch

    torch.set_num_threads(args.threads)
    only = [s.strip() for s in args.figures.split(",") if s.strip()] if args.figures else None
    try:
        result = build_demo(args.out, args.model, seed=args.seed, num=args.num, only=only,
                            resolution=args.resolution)
    except FileNotFoundError as err:
        raise ConfigError(str(err)) from None
    if result.model is None:
        print(f"demo: preview written to {result.pictures[0]}")
    print(f"demo: page written to {result.index}")
    return 0
