"""The ``omnimask`` command line: ``omnimask {demo, synth, train, ...} --help``.

Subcommands live in :mod:`omnimask.commands`, one module each; this file only assembles them.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
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
    parser.add_argument("--debug", action="store_true", help="show tracebacks (also OMNIMASK_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"omnimask.commands.{name}").register(sub)
    return parser


#: Exceptions that mean the user's input was wrong (a file, a value, a config): one line, exit 2.
USER_ERRORS: tuple[type[BaseException], ...] = (ConfigError, OSError, ValueError)


#: File-system errors (by errno) on a path the user gave: what to say before the path, and what to do.
PATH_ERRORS: dict[int, tuple[str, str]] = {
    errno.ENOENT: ("no such file or folder", "check the path"),
    errno.EACCES: ("permission denied", "choose a folder you can write"),
    errno.EPERM: ("permission denied", "choose a folder you can write"),
    errno.EROFS: ("read-only file system", "choose a folder you can write"),
    errno.EEXIST: ("already exists", "remove it or choose another path"),
    errno.ENOTDIR: ("part of the path is a file, not a folder", "choose another path"),
    errno.EISDIR: ("a folder, not a file", "give the path of a file"),
}


def error_line(err: BaseException) -> str:
    """What went wrong, in one line (the exception's type where it helps, no traceback)."""
    text = " ".join(str(err).split()) or type(err).__name__
    if isinstance(err, ConfigError):
        return text
    if isinstance(err, OSError) and err.filename and (known := PATH_ERRORS.get(err.errno or 0)) is not None:
        what, todo = known
        return f"{what}: {err.filename}; {todo}"
    return f"{type(err).__name__}: {text}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code.

    A user error (:data:`USER_ERRORS`) prints ``omnimask CMD: error: ...`` and returns 2; anything else
    prints one line asking for a report and returns 1. ``--debug`` (or ``OMNIMASK_DEBUG=1``) shows the
    traceback instead.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = args.debug or os.environ.get("OMNIMASK_DEBUG") == "1"
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"omnimask {args.command}: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as err:
        if debug:
            raise
        print(f"omnimask {args.command}: error: {error_line(err)}", file=sys.stderr)
        return 2
    except Exception as err:  # a bug, not the user's input
        if debug:
            raise
        print(f"omnimask {args.command}: internal error ({error_line(err)}); rerun with --debug for the traceback "
              "and report it", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
