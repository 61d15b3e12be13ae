"""Metric sinks of a training run: a JSONL file always, TensorBoard when it is installed.

Each record is one flat dict (``step``, ``split``, scalar metrics); ``metrics.jsonl`` is appended to,
so a resumed run continues the same file, after :func:`drop_after` removed what the run logged past
the checkpoint it resumes from (those steps are trained, and logged, again).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from omnimask.files import write_text

#: The JSONL file of a run's metrics, in its output folder.
METRICS_NAME = "metrics.jsonl"


class MetricsLog:
    """Append scalar records to ``metrics.jsonl`` (and TensorBoard if ``tensorboard=True`` and installed).

    ``resumed_at``: the step a resumed run continues from; TensorBoard hides the events a killed run had
    written past it (its ``purge_step``), as :func:`drop_after` drops them from the JSONL file.
    """

    def __init__(self, directory: str | Path, tensorboard: bool = True, resumed_at: int = 0) -> None:
        self.path = Path(directory) / METRICS_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a")
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is an optional extra
                pass
            else:
                self._tb = SummaryWriter(str(Path(directory) / "tensorboard"),
                                         purge_step=resumed_at + 1 if resumed_at else None)

    def write(self, record: dict[str, Any]) -> None:
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        self._file.write(json.dumps(clean) + "\n")
        self._file.flush()
        if self._tb is not None:
            prefix = record.get("split", "train")
            for key, value in record.items():
                if isinstance(value, (int, float)) and key != "step":
                    self._tb.add_scalar(f"{prefix}/{key}", value, record.get("step", 0))

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """All records of a ``metrics.jsonl`` file."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def _step(line: str) -> int | None:
    """The ``step`` of one JSONL line; None for a blank or torn one (a kill in the middle of a write)."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record.get("step") if isinstance(record, dict) else None


def drop_after(path: str | Path, step: int) -> None:
    """Rewrite ``metrics.jsonl`` at ``path`` (atomically) without the records of steps after ``step``.

    A run killed after its last checkpoint had logged steps that its resumption trains and logs again;
    without this they would appear twice. Kept lines are copied unchanged; a missing file is left missing.
    """
    path = Path(path)
    if not path.is_file():
        return
    lines = path.read_text().splitlines()
    kept = [line for line in lines if (s := _step(line)) is not None and s <= step]
    if kept != lines:
        write_text(path, "".join(f"{line}\n" for line in kept))
