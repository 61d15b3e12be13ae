"""Subcommands of the ``omnimask`` CLI, one module each.

Each module defines ``register(subparsers)``, which adds its parser and sets ``func`` to a function
taking the parsed arguments and returning an exit code. Modules import only argparse at top level so
that ``omnimask --help`` stays fast; the work's imports happen inside the function.
"""
