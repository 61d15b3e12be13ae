"""``python -m omnimask``: the command-line interface."""

from omnimask.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
