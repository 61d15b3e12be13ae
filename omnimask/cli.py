"""The ``omnimask`` command line: ``omnimask {demo, synth, train, ...} --help``.

Subcommands live in :mod:`omnimask.commands`, one module each; this file only assembles them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from omnimask import __version__
from omnimask.config import ConfigError

#: Subcommand modules, in the order ``--help`` lists them.
COMMANDS: tuple[str, ...] = (
    "demo", "synth", "label", "train", "finetune", "generate", "eval", "tokenizer", "pretokenize", "shard", "labeler",
    "serve", "convert", "export",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="omnimask",
        description="omnimask: 4M-style massively multimodal masked modeling — train, generate, evaluate.",
    )
    parser.add_argument("--version", action="version", version=f"omnimask {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"omnimask.commands.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as err:
        print(f"omnimask {args.command}: configuration error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"omnimask {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
