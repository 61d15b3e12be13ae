"""``omnimask finetune``: transfer a pretrained 4M to a task it never saw (a head on its encoder).

Example::

    omnimask finetune --from omnimask/assets/models/synth_small --task object_count --out runs/ft_count
    omnimask finetune --task height --inputs rgb,depth --method lora --out runs/ft_height_rgbd

``--from`` is a model folder (ours, or a released 4M; default: the shipped ``synth_small``); ``--task``
a SynthWorld transfer task (``--list-tasks``); ``--method`` full | linear | frozen-encoder | lora;
``--inputs`` the modalities the encoder sees whole (short names work: rgb, depth). ``--scratch`` trains
the same architecture from random initialisation (the baseline). The run is an ``omnimask train``
run: ``--resume``, ``--set key=value`` (any field, e.g. ``--set steps=1000``), checkpoints,
metrics.jsonl, loss curves. What was loaded, what is new and what was dropped is printed at the start
and written to ``<out>/init_report.json``.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``finetune`` subcommand."""
    p = sub.add_parser("finetune", help="fine-tune a pretrained 4M on a new task", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--from", dest="source", default=None, help="pretrained model folder (default: the shipped model)")
    p.add_argument("--task", help="transfer task (see --list-tasks)")
    p.add_argument("--out", help="run folder")
    p.add_argument("--method", default="full", help="full | linear | frozen-encoder | lora (default full)")
    p.add_argument("--inputs", default="rgb", help="comma-separated input modalities (default rgb)")
    p.add_argument("--scratch", action="store_true", help="random initialisation instead of --from's weights")
    p.add_argument("--steps", type=int, default=300, help="optimizer steps (default 300)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue <out>/checkpoint")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run already in --out (its checkpoint, metrics and curves are removed first)")
    p.add_argument("--device", default=None, help="torch device (default: cpu)")
    p.add_argument("--list-tasks", action="store_true", help="print the transfer tasks and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from omnimask.commands.train import run_training
    from omnimask.config import ConfigError, apply_overrides
    from omnimask.data.synthworld.transfer import TRANSFER_TASKS
    from omnimask.loading import shipped_model_path
    from omnimask.recipes.finetune import finetune_config

    if args.list_tasks:
        for name, task in TRANSFER_TASKS.items():
            print(f"{name:18s} {task.kind:17s} {task.describe}")
        return 0
    if not args.task or not args.out:
        raise ConfigError("give --task TASK and --out DIR (--list-tasks shows the tasks)")
    inputs = [n.strip() for n in args.inputs.split(",") if n.strip()]
    cfg = finetune_config(args.source or shipped_model_path(), args.task, args.out, method=args.method,
                          inputs=inputs, scratch=args.scratch, steps=args.steps)
    return run_training(apply_overrides(cfg, args.overrides), args.resume, args.overwrite, args.device)
