"""``omnimask eval``: 4M's out-of-the-box evaluation of a model against ceilings, baselines and specialists.

Example::

    omnimask eval --model runs/synth_tiny/checkpoint --data synth:seed=1,num=200 --out out/eval \\
        --specialist depth=runs/synth_specialist_depth/checkpoint

``--model`` defaults to the SynthWorld model shipped in the package. ``--data`` is
``synth:seed=S,num=N[,start=K]`` (SynthWorld scenes rendered on the fly; pick a world the
model was not trained on — the SynthWorld recipes train on seed 0) or a dataset folder written by
``omnimask synth`` (its ``--split``, default test). For every task the table shows, measured in the
same run: the model, a single-task specialist (``--specialist TASK=DIR``, repeatable, TASK may be a
group such as ``retrieval``; ``—`` when none is given), the model's tokenizer applied to the ground
truth (the ceiling of any token-based prediction), a trivial baseline and the ground truth scored
against itself. Cells that cannot be measured read ``n/a`` with a note saying why. The table is
printed and written with ``eval.json`` and ``eval.png`` (example predictions) into ``--out``.

Tasks: depth, normal, semseg, det, caption, caption2rgb and the retrieval tasks
(retrieval_caption2rgb, retrieval_depth2rgb, retrieval_semseg2rgb, retrieval_rgb2caption); groups
``all``, ``rgb2x`` and ``retrieval``.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``eval`` subcommand."""
    p = subparsers.add_parser(
        "eval",
        help="evaluate a model: task metrics against tokenizer ceilings, baselines and specialists",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", default=None,
                   help="model directory (model.safetensors + config.json + tokenizers/); default: the shipped model")
    p.add_argument("--data", default="synth:seed=1,num=100",
                   help="synth:seed=S,num=N[,start=K] or a dataset folder (default synth:seed=1,num=100)")
    p.add_argument("--num", type=int, default=None, help="number of scenes (overrides the data spec's)")
    p.add_argument("--split", default="test", help="split of a dataset folder (default test)")
    p.add_argument("--tasks", default="all", help="comma-separated tasks or groups (default all)")
    p.add_argument("--specialist", action="append", default=[], metavar="TASK=DIR",
                   help="a single-task specialist model for TASK (repeatable); TASK may be a group: "
                        "retrieval=DIR serves every retrieval task")
    p.add_argument("--seed", type=int, default=0, help="generation seed (default 0)")
    p.add_argument("--batch-size", type=int, default=32, help="scenes per generation call (default 32)")
    p.add_argument("--examples", type=int, default=3, help="scenes per task in the figure (default 3)")
    p.add_argument("--labeler", default="miniclip", help="image-text labeler for retrieval and caption->RGB")
    p.add_argument("--labeler-path", default=None, help="weights folder of the labeler (default: shipped)")
    p.add_argument("--global-modality", default=None, help="global-embedding modality used for retrieval")
    p.add_argument("--out", default="out/eval", help="output folder (default out/eval)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                   help="matmul precision (default auto: bf16 where this machine is faster at it)")
    p.set_defaults(func=run)


def parse_specialists(items: list[str]) -> dict[str, str]:
    """``TASK=DIR`` strings → {task: folder}."""
    from omnimask.config import ConfigError

    out: dict[str, str] = {}
    for item in items:
        task, sep, folder = item.partition("=")
        if not sep or not task.strip() or not folder.strip():
            raise ConfigError(f"--specialist {item!r}: write TASK=DIR, "
                              "e.g. depth=runs/synth_specialist_depth/checkpoint")
        if task.strip() in out:
            raise ConfigError(f"--specialist: task {task.strip()!r} given twice")
        out[task.strip()] = folder.strip()
    return out


#: Integer options and the least value each takes (``--num`` may also be left to the data spec).
LEAST_VALUES: dict[str, int] = {"num": 1, "batch_size": 1, "examples": 0}


def check_counts(args: argparse.Namespace) -> None:
    """Refuse an integer option under its :data:`LEAST_VALUES` entry, naming the option."""
    from omnimask.config import ConfigError

    for name, least in LEAST_VALUES.items():
        value = getattr(args, name)
        if value is not None and value < least:
            raise ConfigError(f"--{name.replace('_', '-')} {value}: must be >= {least}")


def run(args: argparse.Namespace) -> int:
    from omnimask.config import ConfigError
    from omnimask.evaluation import evaluate

    check_counts(args)
    try:
        report = evaluate(
            args.model, args.data, args.num, args.seed, args.tasks, parse_specialists(args.specialist),
            batch_size=args.batch_size, examples=args.examples, labeler=args.labeler,
            labeler_path=args.labeler_path, global_modality=args.global_modality, device=args.device,
            precision=args.precision, split=args.split,
        )
    except (KeyError, FileNotFoundError) as err:
        raise ConfigError(str(err.args[0] if err.args else err)) from None
    print(report.markdown(), end="")
    for kind, path in report.save(args.out).items():
        print(f"{kind}: {path}")
    return 0
