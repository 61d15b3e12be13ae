"""A run folder before training starts: a fresh one, the one being resumed, or one to overwrite.

``omnimask train`` / ``finetune`` call :func:`prepare_run` first, so that nothing is lost silently:

* an ``--out`` that already holds a run (a ``checkpoint/`` or ``metrics.jsonl``) is refused unless the
  run is resumed (``--resume``) or ``--overwrite`` is given (then its checkpoint, metrics and curves
  are removed first, so nothing is appended to the old ones);
* ``--resume`` compares the configuration with the one the checkpoint was trained with: fields in
  :data:`RESUMABLE_CHANGES` (the step budget, how often to evaluate, save and log) may change, and
  each change is reported; any other difference is refused, naming every field with both values.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omnimask.config import ConfigError, to_dict
from omnimask.files import RUN_CONFIG_NAME, recover_dir
from omnimask.training.config import TrainConfig
from omnimask.training.metrics import METRICS_NAME

#: Fields a resumed run may change (everything else must equal the checkpoint's configuration).
RESUMABLE_CHANGES: tuple[str, ...] = (
    "out_dir", "steps", "tokens", "eval_every", "eval_batches", "save_every", "log_every", "progress", "tensorboard",
)
#: What a run writes into its folder (removed by ``--overwrite``).
RUN_OUTPUTS: tuple[str, ...] = ("checkpoint", METRICS_NAME, "loss_curves.png", "init_report.json", "tensorboard")


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """A nested config dict as dotted keys → leaf values."""
    if not isinstance(tree, Mapping):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def config_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Dotted field → (checkpoint's value, new value) for every field that differs."""
    old, new = flatten(before), flatten(after)
    return {k: (old.get(k), new.get(k)) for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)}


def holds_run(out_dir: Path) -> bool:
    return (out_dir / "checkpoint").exists() or (out_dir / METRICS_NAME).exists()


def prepare_run(cfg: TrainConfig, resume: bool | str | Path = False, overwrite: bool = False,
                main: bool = True) -> list[str]:
    """Check (and with ``overwrite`` clear) the run folder; returns lines describing accepted changes.

    Every rank of a torchrun job checks; only the ``main`` one removes what ``overwrite`` replaces.
    """
    out = Path(cfg.out_dir)
    if resume:
        checkpoint = out / "checkpoint" if resume is True else Path(resume)
        if main:
            recover_dir(checkpoint)
        saved = checkpoint / RUN_CONFIG_NAME
        if not saved.is_file():
            raise ConfigError(f"--resume: no checkpoint to continue in {checkpoint} (no {RUN_CONFIG_NAME}); "
                              "start the run without --resume")
        import json

        changes = config_changes(json.loads(saved.read_text()), json.loads(json.dumps(to_dict(cfg))))
        refused = {k: v for k, v in changes.items() if k not in RESUMABLE_CHANGES}
        if refused:
            listed = "; ".join(f"{k}: {a!r} in the checkpoint, {b!r} now" for k, a, b in
                               ((k, *v) for k, v in refused.items()))
            raise ConfigError(f"--resume: the configuration differs from the checkpoint's ({listed}). Resume with "
                              "the checkpoint's values, or start a new run in another --out")
        return [f"resume: {k} {a!r} -> {b!r}" for k, (a, b) in changes.items() if k != "out_dir"]
    if holds_run(out):
        if not overwrite:
            raise ConfigError(f"--out {out} already holds a run (checkpoint or metrics.jsonl); continue it with "
                              "--resume, or pass --overwrite to replace it")
        for name in RUN_OUTPUTS if main else ():
            path = out / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    return []
