"""Subcommands of the ``omnimask`` CLI, one module each.

Each module defines ``register(subparsers)``, which adds its parser and sets ``func`` to a function
taking the parsed arguments and returning an exit code. Modules import only argparse at top level so
that ``omnimask --help`` stays fast; the work's imports happen inside the function.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping

ActionAdder = Callable[[argparse._SubParsersAction], None]


def register_actions(subparsers: argparse._SubParsersAction, name: str, help: str, description: str,
                     actions: Mapping[str, ActionAdder]) -> None:
    """Add ``omnimask NAME ACTION ...``: a command whose actions each register their own parser."""
    parser = subparsers.add_parser(name, help=help, description=description)
    sub = parser.add_subparsers(dest=f"{name}_action", metavar="ACTION", required=True)
    for add in actions.values():
        add(sub)
