"""Evaluation scenes: ``synth:seed=S,num=N`` (rendered on the fly) or a folder written by ``omnimask synth``.

A data spec names where the ground truth comes from:

* ``synth:seed=S,num=N[,start=K][,resolution=R]`` — SynthWorld scenes ``K .. K+N-1`` of world ``S``
  (pick a seed or a range the model was not trained on: the SynthWorld recipes train on world 0,
  scenes ``0 .. num_train + num_val - 1``); the resolution defaults to the model's;
* ``DIR`` — a dataset folder of ``omnimask synth --out DIR`` (its ``test`` split unless told
  otherwise); the first ``num`` keys in order.

Samples are SynthWorld's dicts (``rgb``, ``depth``, ``normal``, ``semseg``, ``det``, ``caption``, ...).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from omnimask.config import ConfigError, read_json
from omnimask.data.synthworld import SynthWorldConfig, load_sample, render_sample
from omnimask.progress import tqdm

#: Keys of a ``synth:`` data spec and the least value each takes (SynthWorld checks the resolution further).
_SYNTH_KEYS: dict[str, int] = {"seed": 0, "num": 1, "start": 0, "resolution": 1}


@dataclasses.dataclass(frozen=True, kw_only=True)
class DataSpec:
    """Where evaluation scenes come from (see the module docstring)."""

    source: str  # "synth" or "folder"
    seed: int = 0
    num: int | None = None
    start: int = 0
    resolution: int | None = None
    path: str = ""
    split: str = "test"

    def describe(self) -> str:
        if self.source == "synth":
            return f"synth:seed={self.seed},num={self.num},start={self.start},resolution={self.resolution}"
        return f"{self.path} (split {self.split}, {self.num if self.num is not None else 'all'} scenes)"


def parse_data_spec(text: str, *, split: str = "test") -> DataSpec:
    """``synth:seed=S,num=N[,start=K][,resolution=R]`` or a dataset folder."""
    if text.startswith("synth:") or text == "synth":
        fields: dict[str, Any] = {}  # int values of the DataSpec fields named in _SYNTH_KEYS
        for item in filter(None, text.partition(":")[2].split(",")):
            key, sep, value = (part.strip() for part in item.partition("="))
            if not sep or key not in _SYNTH_KEYS:
                raise ConfigError(f"--data {text!r}: {item!r} is not KEY=VALUE with KEY in {sorted(_SYNTH_KEYS)}")
            try:
                fields[key] = int(value)
            except ValueError:
                raise ConfigError(f"--data {text!r}: {key}={value!r} is not an integer") from None
            if fields[key] < _SYNTH_KEYS[key]:
                raise ConfigError(f"--data {text!r}: {key} must be >= {_SYNTH_KEYS[key]}")
        return DataSpec(source="synth", **fields)
    path = Path(text)
    if not (path / "manifest.json").is_file():
        raise ConfigError(f"--data {text!r}: neither synth:seed=S,num=N nor a dataset folder of `omnimask synth` "
                          "(no manifest.json there)")
    return DataSpec(source="folder", path=str(path), split=split)


def load_scenes(spec: DataSpec, num: int | None = None, resolution: int | None = None,
                progress: bool = True) -> tuple[list[dict[str, Any]], DataSpec]:
    """The scenes of ``spec`` (``num`` overrides its count) at ``resolution`` (the model's), and the
    resolved spec (count and resolution filled in)."""
    count = num if num is not None else spec.num
    if spec.source == "synth":
        count = 100 if count is None else count
        res = spec.resolution or resolution or 64
        cfg = SynthWorldConfig(resolution=res)
        indices = range(spec.start, spec.start + count)
        scenes = [render_sample(spec.seed, i, cfg) for i in tqdm(indices, desc="render", disable=not progress)]
        return scenes, dataclasses.replace(spec, num=count, resolution=res)
    root = Path(spec.path)
    manifest = read_json(root / "manifest.json")
    if resolution is not None and manifest.get("resolution") != resolution:
        raise ConfigError(f"{root} holds {manifest.get('resolution')}-px scenes but the model works at {resolution} "
                          f"px; write a dataset at {resolution} px (omnimask synth --resolution {resolution})")
    folder = root / spec.split / "rgb"
    if not folder.is_dir():
        raise ConfigError(f"{root} has no split {spec.split!r} ({folder} is missing); choose another with --split")
    keys = sorted(p.stem for p in folder.glob("*.png"))[:count]
    scenes = [load_sample(root, spec.split, k) | {"key": k} for k in tqdm(keys, desc="read", disable=not progress)]
    return scenes, dataclasses.replace(spec, num=len(scenes), resolution=manifest.get("resolution"))
