"""``omnimask generate``: any-to-any generation from a trained model directory.

Example::

    omnimask generate --model runs/synth_tiny --input rgb=photo.png --input caption="a red cube" \\
        --target depth,normal,semseg --plan quality --seed 0 --out out/gen

``--input NAME=VALUE`` gives a condition: an image file for pixel or map modalities, text for a
caption, a JSON file or JSON literal for boxes / metadata / palettes, a ``.npy`` file for raw maps.
Names may be written short (``rgb``, ``depth``) when that picks one modality of the model. ``--plan``
is ``fast`` (one pass per image target, greedy text), ``quality`` (the released demo settings), or a
plan file (ours, a released generation-settings YAML, or a flat schedule). Every condition and
output is written as an image or text file, plus ``grid.png`` with all of them.
"""

from __future__ import annotations

import argparse
import json
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
    p.add_argument("--model", required=True, help="model directory (model.safetensors + config.json [+ tokenizers/])")
    p.add_argument("--tokenizers", default=None, help="tokenizer bundle folder (default: <model>/tokenizers)")
    p.add_argument("--input", action="append", default=[], metavar="NAME=VALUE", help="a condition (repeatable)")
    p.add_argument("--target", default=None, help="comma-separated modalities to generate, in order")
    p.add_argument("--plan", default="fast", help="fast | quality | a plan file (default fast)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", default="out/generate", help="output folder (default out/generate)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.set_defaults(func=run)


def resolve_name(name: str, known: list[str]) -> str:
    """A modality name from a possibly short form: exact, then ``<name>@…``, then ``tok_<name>@…``."""
    if name in known:
        return name
    for tier in (name, f"tok_{name}"):
        hits = [m for m in known if m.split("@")[0] == tier]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise ValueError(f"{name!r} is ambiguous ({hits}); write the full modality name")
    raise ValueError(f"unknown modality {name!r}; this model has {sorted(known)}")


def parse_value(text: str) -> Any:
    """A condition value from the command line: JSON / .npy files and JSON literals are read, paths kept."""
    path = Path(text)
    if path.suffix == ".json" and path.is_file():
        return json.loads(path.read_text())
    if path.suffix == ".npy" and path.is_file():
        import numpy as np

        return np.load(path)
    if text[:1] in "[{":
        return json.loads(text)
    return text


def parse_inputs(items: list[str], known: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` strings -> {modality: raw value}."""
    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--input {item!r}: write NAME=VALUE, e.g. rgb=photo.png or caption=\"a cat\"")
        out[resolve_name(name.strip(), known)] = parse_value(value)
    return out


def load_model(directory: str | Path, device: str) -> Any:
    """Our checkpoint or a released 4M one (:func:`omnimask.load` tells them apart)."""
    from omnimask.config import ConfigError
    from omnimask.loading import load
    from omnimask.model import FourM

    model = load(directory)
    if not isinstance(model, FourM):
        raise ConfigError(f"--model {directory} holds a {type(model).__name__}, not a 4M model")
    return model.to(device)


def run(args: argparse.Namespace) -> int:
    from omnimask.config import ConfigError
    from omnimask.generation import Sampler, load_plan, plan
    from omnimask.generation.conditions import build_conditions
    from omnimask.generation.render import decode_state, write_outputs
    from omnimask.tokenizers.bundle import load_tokenizers

    model = load_model(args.model, args.device)
    known = list(model.specs)
    try:
        raw = parse_inputs(args.input, known)
        targets = [resolve_name(t.strip(), known) for t in (args.target or "").split(",") if t.strip()]
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if not raw:
        raise ConfigError("give at least one --input NAME=VALUE")
    bundle = Path(args.tokenizers) if args.tokenizers else Path(args.model)
    try:
        tokenizers = load_tokenizers(bundle)
    except FileNotFoundError:
        tokenizers = {}
        print(f"omnimask generate: no tokenizers at {bundle}; raw token ids only")
    if args.plan in ("fast", "quality"):
        if not targets:
            raise ConfigError("--target is required with --plan fast|quality")
        the_plan = plan(list(raw), targets, model.specs, preset=args.plan)
    else:
        the_plan = load_plan(args.plan, conditions=list(raw))
        if targets and targets != the_plan.targets:
            raise ConfigError(f"--target {targets} differs from the plan's targets {the_plan.targets}")
    conditions = build_conditions(raw, model.specs, tokenizers)
    result = Sampler(model, progress=True).generate(conditions, the_plan, seed=args.seed)
    decoded = decode_state(result.state, model.specs, tokenizers, [*raw, *the_plan.targets])
    paths = write_outputs(decoded, list(raw), args.out)
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0
