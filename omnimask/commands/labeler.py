"""``omnimask labeler ACTION``: feature labelers (MiniCLIP and user-registered networks).

* ``train-miniclip`` — train MiniCLIP contrastively on SynthWorld RGB–caption pairs and write
  ``model.safetensors`` + ``config.json`` into ``--out``; the defaults reproduce the checkpoint shipped
  in ``omnimask/assets/miniclip``.
* ``info`` — list the registered labelers and describe one (default: the shipped MiniCLIP).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from omnimask.commands import register_actions


def _register_train_miniclip(actions: argparse._SubParsersAction) -> None:
    p = actions.add_parser(
        "train-miniclip",
        help="train MiniCLIP on SynthWorld (reproduces the shipped checkpoint)",
        description=(
            "Render --num SynthWorld scenes at 64 px with several captions each, train MiniCLIP (a tiny "
            "ViT + text transformer) with the symmetric InfoNCE loss for --steps steps, score caption<->image "
            "retrieval on held-out scenes, and write OUT/model.safetensors and OUT/config.json."
        ),
    )
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output directory")
    p.add_argument("--num", type=int, default=None, help="training scenes (default: the shipped run's)")
    p.add_argument("--steps", type=int, default=None, help="optimiser steps (default: the shipped run's)")
    p.add_argument("--seed", type=int, default=0, help="initialisation / batch-order seed (default 0)")
    p.add_argument("--data-seed", type=int, default=0, help="SynthWorld world seed (default 0)")
    p.add_argument("--batch-size", type=int, default=None, help="pairs per step (default: the shipped run's)")
    p.add_argument("--eval-num", type=int, default=None, metavar="N",
                   help="held-out scenes for the retrieval score, a multiple of 100 (0 skips it)")  # fmt: skip
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: bit-reproducible, and kind to a shared machine)")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_train_miniclip)


def _register_info(actions: argparse._SubParsersAction) -> None:
    p = actions.add_parser("info", help="list labelers and describe one")
    p.add_argument("name", nargs="?", default="miniclip", help="registered labeler name (default miniclip)")
    p.add_argument("--path", type=Path, default=None, metavar="DIR", help="local weights (default: the loader's)")
    p.set_defaults(func=_info)


#: The ``labeler`` actions, in the order ``--help`` lists them.
ACTIONS: dict[str, Callable[[argparse._SubParsersAction], None]] = {
    "train-miniclip": _register_train_miniclip,
    "info": _register_info,
}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``omnimask labeler`` and its actions."""
    register_actions(subparsers, "labeler", "feature labelers (MiniCLIP)", __doc__.split("\n")[0], ACTIONS)


def _print_retrieval(metrics: dict[str, float]) -> None:
    """One line per held-out recall score of a MiniCLIP card, with its chance level."""
    pool = int(metrics.get("pool", 100))
    for key, value in metrics.items():
        if key != "pool":
            chance = int(key.rsplit("@", 1)[1]) / pool
            print(f"  held-out {key:<18} {value:.3f}   (chance {chance:.3f} among {pool})")


def _train_miniclip(args: argparse.Namespace) -> int:
    import torch

    from omnimask.config import ConfigError
    from omnimask.data.labelers.miniclip_labeler import save_miniclip
    from omnimask.training.miniclip import MiniClipTrainConfig, train_miniclip

    if args.threads < 1:
        raise ConfigError(f"--threads must be at least 1, got {args.threads}")
    given = {"num": args.num, "steps": args.steps, "batch_size": args.batch_size, "eval_num": args.eval_num}
    try:
        cfg = MiniClipTrainConfig(
            seed=args.seed, data_seed=args.data_seed, **{k: v for k, v in given.items() if v is not None}
        )
    except ValueError as err:
        raise ConfigError(str(err)) from err
    command = (
        f"omnimask labeler train-miniclip --out DIR --num {cfg.num} --steps {cfg.steps} --seed {cfg.seed} "
        f"--data-seed {cfg.data_seed} --batch-size {cfg.batch_size} --threads {args.threads}"
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        result = train_miniclip(cfg, progress=not args.quiet)
    finally:
        torch.set_num_threads(threads)
    out = save_miniclip(
        result.model, result.vocab, args.out, training={"command": command, **result.training}, metrics=result.metrics
    )
    size = (out / "model.safetensors").stat().st_size
    print(f"wrote {out} ({size / 1e6:.2f} MB weights, {len(result.vocab)} words); wall {result.training['wall_s']}")
    print(f"final loss {result.training['final_loss']:.3f}")
    _print_retrieval(result.metrics)
    return 0


def _info(args: argparse.Namespace) -> int:
    from omnimask.config import ConfigError
    from omnimask.data.labelers.base import FeatureLabeler
    from omnimask.data.labelers.miniclip_labeler import MiniClipLabeler, card_of
    from omnimask.data.labelers.registry import available_labelers, load_labeler

    print(f"registered labelers: {', '.join(available_labelers())}")
    try:
        labeler = load_labeler(args.name, args.path)
    except (KeyError, FileNotFoundError) as err:
        raise ConfigError(str(err).strip('"')) from err
    if not isinstance(labeler, FeatureLabeler):  # an image labeler: the dataset modalities it writes
        standin = " (a SynthWorld-trained stand-in for the network 4M used)" if labeler.standin else ""
        print(f"{args.name}: labels photos with {', '.join(labeler.writes)}{standin}")
        return 0
    print(f"{args.name}: patch features C={labeler.feature_dim}, global embedding E={labeler.embedding_dim}")
    if isinstance(labeler, MiniClipLabeler):
        card = card_of(args.path)
        params = sum(p.numel() for p in labeler.model.parameters())
        print(f"  weights: {args.path or 'shipped (omnimask/assets/miniclip)'}, {params} parameters")
        print(f"  input: {card.input}")
        print(f"  outputs: {card.outputs}")
        print(f"  made by: {card.training.get('command', '?')}")
        _print_retrieval(card.metrics)
    return 0
