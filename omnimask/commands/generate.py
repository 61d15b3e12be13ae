"""``omnimask generate``: any-to-any generation from a trained model directory.

Example::

    omnimask generate --input rgb=photo.png --input caption="a red cube" \\
        --target depth,normal,semseg --plan quality --seed 0 --out out/gen

``--input NAME=VALUE`` gives a condition: an image file for pixel or map modalities, text for a
caption, a JSON file or JSON literal for boxes / metadata / palettes, a ``.npy`` file for raw maps.
Names may be written short (``rgb``, ``depth``) when that picks one modality of the model. ``--plan``
is ``fast`` (one pass per image target, greedy text), ``quality`` (the released demo settings), or a
plan file (ours, a released generation-settings YAML, or a flat schedule). ``--model`` defaults to the
SynthWorld model shipped in the package. Every condition and
output is written as an image or text file, plus ``grid.png`` with all of them.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``generate`` subcommand."""
    p = subparsers.add_parser(
        "generate",
        help="generate modalities from conditions with a trained model",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", default=None,
                   help="model directory (model.safetensors + config.json [+ tokenizers/]); default: the shipped model")
    p.add_argument("--tokenizers", default=None, help="tokenizer bundle folder (default: <model>/tokenizers)")
    p.add_argument("--input", action="append", default=[], metavar="NAME=VALUE", help="a condition (repeatable)")
    p.add_argument("--target", default=None, help="comma-separated modalities to generate, in order")
    p.add_argument("--plan", default="fast", help="fast | quality | a plan file (default fast)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", default="out/generate", help="output folder (default out/generate)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                   help="matmul precision (default auto: bf16 where this machine is faster at it)")
    p.set_defaults(func=run)


#: Example JSON literals of the modalities given as JSON, for the message about one that does not parse.
JSON_EXAMPLES: dict[str, str] = {
    "det": '[{"class": "cube", "box": [0.1, 0.2, 0.5, 0.6]}]',
    "color_palette": "[[255, 0, 0], [0, 0, 255]]",
    "metadata": '{"brightness": 0.5}',
}


def _read_npy(path: Path) -> Any:
    import numpy as np

    return np.load(path)


def parse_value(text: str, name: str = "") -> Any:
    """A condition value from the command line: ``.json`` / ``.npy`` files and JSON literals are read, paths kept.

    Raises:
        ConfigError: an empty value, a missing ``.json`` / ``.npy`` file or a JSON literal that does not
            parse (naming the input ``name`` and showing the expected form).
    """
    from omnimask.config import ConfigError, read_json

    readers: dict[str, Callable[[Path], Any]] = {".json": read_json, ".npy": _read_npy}
    path = Path(text)
    if not text:
        raise ConfigError(f"--input {name}= is empty; give a value, e.g. caption=\"a red cube\" or rgb=photo.png")
    if path.suffix in readers:
        if not path.is_file():
            raise ConfigError(f"--input {name}={text}: no such file")
        return readers[path.suffix](path)
    if text.startswith(("[", "{")):
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            example = JSON_EXAMPLES.get(name.split("@")[0], "[...] or {...}")
            raise ConfigError(f"--input {name}={text[:60]}: not valid JSON ({err.msg}, column {err.colno}); write it "
                              f"in JSON inside single quotes, e.g. {name}='{example}', or give a .json file") from None
    return text


def parse_inputs(items: list[str], resolve: Callable[[str], str]) -> dict[str, Any]:
    """``NAME=VALUE`` strings -> {modality: raw value} (``resolve`` turns short names into modality names)."""
    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--input {item!r}: write NAME=VALUE, e.g. rgb=photo.png or caption=\"a cat\"")
        modality = resolve(name.strip())
        out[modality] = parse_value(value, modality)
    return out


def run(args: argparse.Namespace) -> int:
    from omnimask.config import ConfigError
    from omnimask.generation import load_plan
    from omnimask.generation.pipeline import Pipeline
    from omnimask.generation.render import write_outputs

    pipe = Pipeline.load(args.model, tokenizers=args.tokenizers, device=args.device, progress=True,
                         precision=args.precision)
    if not pipe.tokenizers:
        print(f"omnimask generate: no tokenizers at {pipe.path}; raw token ids only")
    try:
        raw = parse_inputs(args.input, pipe.resolve)
        targets = [pipe.resolve(t.strip()) for t in (args.target or "").split(",") if t.strip()]
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if not raw:
        raise ConfigError("give at least one --input NAME=VALUE")
    if args.plan in ("fast", "quality"):
        if not targets:
            raise ConfigError("--target is required with --plan fast|quality")
        the_plan = pipe.plan(list(raw), targets, preset=args.plan)
    else:
        the_plan = load_plan(args.plan, conditions=list(raw))
        if targets and targets != the_plan.targets:
            raise ConfigError(f"--target {targets} differs from the plan's targets {the_plan.targets}")
    conditions = pipe.conditioner(raw)
    Path(args.out).mkdir(parents=True, exist_ok=True)  # a --out that cannot be written fails before generating
    result = pipe.generate(conditions, the_plan, seed=args.seed)
    paths = write_outputs(pipe.decode(result.state, [*raw, *the_plan.targets]), list(raw), args.out)
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0
