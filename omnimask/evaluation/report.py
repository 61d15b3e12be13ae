"""The evaluation report: per-task results, the table (markdown), ``eval.json`` and a figure.

:class:`Report` holds one :class:`TaskResult` per task — every column's metrics (or the reason it
is missing) — plus run information. :meth:`Report.rows` flattens it into the table rows (one per
headline metric), :meth:`Report.markdown` renders the table with numbered notes for ``n/a`` cells
(``—``: no specialist given), and :meth:`Report.save` writes ``eval.json``, ``eval.md`` and
``eval.png`` (a few scenes per task: input, predictions, tokenizer ceiling, ground truth).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from omnimask import viz

#: Columns of the table, in order, with their titles.
COLUMN_TITLES: dict[str, str] = {
    "model": "model",
    "specialist": "specialist",
    "ceiling": "tokenizer ceiling",
    "baseline": "trivial baseline",
    "truth": "ground truth",
}
COLUMNS: tuple[str, ...] = tuple(COLUMN_TITLES)
#: Note of a specialist column when no specialist was given (shown as "—").
NOT_GIVEN = "no specialist given (--specialist TASK=DIR)"


@dataclasses.dataclass
class Example:
    """One scene of a task for the figure: its inputs and each column's prediction."""

    inputs: dict[str, Any]
    outputs: dict[str, Any]


@dataclasses.dataclass
class TaskResult:
    """All columns of one task: metrics per column (None = not measured, see ``notes``)."""

    task: str
    title: str
    values: dict[str, dict[str, Any] | None]
    notes: dict[str, str]
    seconds: float
    examples: list[Example] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class Row:
    """One line of the table: a headline metric of a task in every column."""

    task: str
    title: str
    metric: str
    label: str
    higher_is_better: bool
    values: dict[str, float | None]
    notes: dict[str, str]


def _clean(value: Any) -> Any:
    """JSON-ready: NaN → None, numpy scalars → Python numbers, recursively."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _scaled(value: Any, scale: float) -> float | None:
    value = _clean(value)
    return None if value is None else value * scale


def format_value(value: float | None) -> str:
    """A table cell: 3 decimals below 10, 1 above."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "nan"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3f}"


class Report:
    """Results of one ``evaluate`` run (see the module docstring)."""

    def __init__(self, results: list[TaskResult], meta: dict[str, Any]) -> None:
        self.results, self.meta = results, meta

    def result(self, task: str) -> TaskResult:
        for r in self.results:
            if r.task == task:
                return r
        raise KeyError(f"no task {task!r} in the report; it has {[r.task for r in self.results]}")

    def rows(self) -> list[Row]:
        from omnimask.evaluation.tasks import TASKS

        rows = []
        for r in self.results:
            for h in TASKS[r.task].headlines:
                values = {c: _scaled(v.get(h.key), h.scale) if (v := r.values.get(c)) else None for c in COLUMNS}
                notes = dict(r.notes)
                for c in COLUMNS:  # measured, yet no number: the metric is undefined on those predictions
                    if r.values.get(c) and values[c] is None and c not in notes:
                        notes[c] = f"{h.label} is undefined on its predictions"
                rows.append(Row(r.task, r.title, h.key, h.label, h.higher_is_better, values, notes))
        return rows

    def to_dict(self) -> dict[str, Any]:
        """Everything but the example pictures, JSON-ready."""
        return _clean({
            "meta": self.meta,
            "columns": COLUMN_TITLES,
            "tasks": {r.task: {"title": r.title, "values": r.values, "notes": r.notes, "seconds": round(r.seconds, 2)}
                      for r in self.results},
            "rows": [dataclasses.asdict(row) for row in self.rows()],
        })  # fmt: skip

    def markdown(self) -> str:
        """The table, numbered notes for n/a cells, and how it was made."""
        notes: list[str] = []

        def cell(row: Row, column: str) -> str:
            if row.values[column] is not None:
                return format_value(row.values[column])
            note = row.notes.get(column, "not measured")
            if note == NOT_GIVEN:
                return "—"
            text = f"{COLUMN_TITLES[column]}: {note}"
            if text not in notes:
                notes.append(text)
            return f"n/a [{notes.index(text) + 1}]"

        head = ["task", "metric", *COLUMN_TITLES.values()]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 2 + "---:|" * len(COLUMNS)]
        for row in self.rows():
            arrow = "↑" if row.higher_is_better else "↓"
            cells = [row.title, f"{row.label} {arrow}", *(cell(row, c) for c in COLUMNS)]
            lines.append("| " + " | ".join(cells) + " |")
        meta = self.meta
        lines += ["", f"{meta.get('scenes')} scenes ({meta.get('data')}), seed {meta.get('seed')}, "
                      f"model {meta.get('model')}, {meta.get('seconds')} s."]  # fmt: skip
        if notes:
            lines += [""] + [f"[{i + 1}] {n}" for i, n in enumerate(notes)]
        return "\n".join(lines) + "\n"

    def figure(self, cell: int = 96) -> Image.Image:
        """A few scenes per task: inputs, each column's prediction (figure views of the tasks)."""
        from omnimask.evaluation.figure import task_panel
        from omnimask.evaluation.tasks import TASKS

        panels = [p for r in self.results if (p := task_panel(TASKS[r.task], r, cell)) is not None]
        return viz.stack(panels, pad=8) if panels else viz.text_block("(no task to picture)", 400)

    def save(self, out: str | Path, figure: bool = True) -> dict[str, Path]:
        """Write ``eval.json``, ``eval.md`` and (optionally) ``eval.png`` into ``out``; returns the paths."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"json": out / "eval.json", "markdown": out / "eval.md"}
        paths["json"].write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n")
        paths["markdown"].write_text(self.markdown())
        if figure:
            paths["figure"] = out / "eval.png"
            self.figure().save(paths["figure"])
        return paths
