"""``omnimask train``: run a named recipe with ``--set`` overrides (4M multimodal masked training)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a 4M model from a recipe",
        description="Train a 4M model. The recipe gives every setting; --set key=value changes any of them "
        "(e.g. --set steps=2000 --set optim.lr=1e-3 --set model.size=S). The resolved configuration is "
        "written to <out_dir>/config.json; checkpoints go to <out_dir>/checkpoint.",
    )
    p.add_argument("--recipe", default="synth_tiny", help="recipe name (default: synth_tiny); --list-recipes shows all")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field (repeatable)")
    p.add_argument("--out", help="output folder (same as --set out_dir=...)")
    p.add_argument("--resume", nargs="?", const=True, default=False, metavar="CHECKPOINT",
                   help="continue from <out_dir>/checkpoint, or from the given checkpoint folder")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run already in --out (its checkpoint, metrics and curves are removed first)")
    p.add_argument("--device", default=None, help="torch device (default: cpu)")
    p.add_argument("--list-recipes", action="store_true", help="print the recipe names and exit")
    p.add_argument("--print-config", action="store_true", help="print the resolved config as JSON and exit")
    p.add_argument("--curves", metavar="RUN_DIR", help="only (re)draw RUN_DIR/loss_curves.png from its metrics.jsonl")
    p.set_defaults(func=run)


def run_training(cfg: Any, resume: bool | str, overwrite: bool, device: str | None) -> int:
    """Check the device, prepare the run folder, write ``config.json`` and train (``train`` and ``finetune``).

    The device and the data settings are checked before anything is written, so a machine without the
    device or a configuration whose data does not fit the model leaves ``--out`` as it was. Under
    torchrun only rank 0 writes and reports.
    """
    from omnimask.config import save_config
    from omnimask.devices import check_device
    from omnimask.training.distributed import env_rank
    from omnimask.training.loop import train
    from omnimask.training.runs import prepare_run
    from omnimask.training.setup import data_specs

    check_device(device)
    data_specs(cfg)
    main_rank = env_rank() == 0
    changes = prepare_run(cfg, resume, overwrite, main=main_rank)
    if main_rank:
        for line in changes:
            print(line)
        save_config(cfg, f"{cfg.out_dir}/config.json")
    trainer = train(cfg, resume=resume, device=device)
    if main_rank:
        print(f"done: {trainer.state.step} steps, checkpoint in {trainer.checkpoint_dir}")
    return 0


def run(args: argparse.Namespace) -> int:
    import json

    from omnimask.config import apply_overrides, to_dict
    from omnimask.recipes import RECIPES, get_recipe

    if args.list_recipes:
        print("\n".join(sorted(RECIPES)))
        return 0
    if args.curves:
        from omnimask.training.curves import write_loss_curves

        write_loss_curves(args.curves)
        return 0
    overrides = list(args.overrides) + ([f"out_dir={args.out}"] if args.out else [])
    cfg = apply_overrides(get_recipe(args.recipe), overrides)
    if args.print_config:
        print(json.dumps(to_dict(cfg), indent=2))
        return 0
    return run_training(cfg, args.resume, args.overwrite, args.device)
