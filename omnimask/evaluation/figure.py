"""The evaluation figure: per task a few scenes — input, each column's prediction, ground truth.

Maps are colourised with :mod:`omnimask.viz` (depth with a colour map, normals as RGB, classes with
the label palette); boxes are drawn on the input image; captions are printed under the row.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from omnimask import viz
from omnimask.data.synthworld.preview import SEMANTIC_PALETTE
from omnimask.evaluation.report import COLUMN_TITLES, COLUMNS, TaskResult
from omnimask.evaluation.tasks import Task


def _depth_picture(depth: np.ndarray, truth: np.ndarray | None) -> np.ndarray:
    """Inverse depth on the ground truth's colour range, black where the ground truth is invalid (sky),
    so that every column of a row is coloured alike."""
    if truth is None or not (truth > 0).any():
        return viz.colorize_depth(depth)
    valid = truth > 0
    lo, hi = np.percentile(1.0 / truth[valid].astype(np.float64), [1, 99])
    out = np.zeros((*depth.shape, 3), np.uint8)
    out[valid] = viz.colormap((1.0 / np.maximum(depth[valid], 1e-3) - lo) / max(hi - lo, 1e-12))
    return out


def _picture(value: Any, view: str, base: np.ndarray | None, cell: int,
             truth: Any = None) -> np.ndarray | Image.Image | None:
    if view == "depth":
        return _depth_picture(np.asarray(value, np.float32), None if truth is None else np.asarray(truth))
    if view == "normal":
        normal = np.array(value, np.float32)
        if truth is not None:
            normal[np.all(np.asarray(truth) == 0, axis=-1)] = 0  # black where the truth is invalid
        return viz.colorize_normals(normal)
    if view == "labels":  # SynthWorld's semantic classes, coloured as in the demo and the preview
        return viz.colorize_labels(np.asarray(value).astype(np.int64), SEMANTIC_PALETTE)
    if view == "rgb":
        return np.asarray(value, np.uint8)
    if view == "boxes":
        canvas = base if base is not None else np.full((cell, cell, 3), 255, np.uint8)
        boxes = list(value or [])
        colors = [viz.LABEL_PALETTE[1 + i % (len(viz.LABEL_PALETTE) - 1)] for i in range(len(boxes))]
        return viz.draw_boxes(canvas, [b["box"] for b in boxes], [str(b["class"]) for b in boxes], colors, cell)
    return None


def _input_picture(value: Any) -> np.ndarray | None:
    arr = np.asarray(value) if not isinstance(value, (str, list, dict)) else None
    if arr is None or arr.ndim < 2:
        return None
    if arr.dtype == np.uint8 and arr.ndim == 3:
        return arr
    if arr.ndim == 3:
        return viz.colorize_normals(arr.astype(np.float32))
    if np.issubdtype(arr.dtype, np.floating):
        return viz.colorize_depth(arr.astype(np.float32))
    return viz.colorize_labels(arr.astype(np.int64), SEMANTIC_PALETTE)


def _beside(left: Image.Image, right: Image.Image, pad: int = 6) -> Image.Image:
    out = Image.new("RGB", (left.width + pad + right.width, max(left.height, right.height)), (255, 255, 255))
    out.paste(left, (0, 0))
    out.paste(right, (left.width + pad, 0))
    return out


def task_panel(task: Task, result: TaskResult, cell: int = 96) -> Image.Image | None:
    """The rows of one task (None for tasks without a picture, such as retrieval, or without examples)."""
    if task.view == "none" or not result.examples:
        return None
    columns = [c for c in COLUMNS if c in result.examples[0].outputs]
    parts: list[Image.Image] = [viz.text_block(task.title.replace("→", "->"), 6 * cell, size=14)]
    for example in result.examples:
        cells: list[np.ndarray | Image.Image] = []
        titles, texts = [], []
        base = None
        for name, value in example.inputs.items():
            picture = _input_picture(value)
            if picture is None:
                texts.append(f"{name}: {value}")
                continue
            cells.append(picture)
            titles.append(name)
            base = picture if base is None and picture.ndim == 3 else base
        for column in columns:
            value = example.outputs[column]
            shown = _picture(value, task.view, base, cell, example.outputs.get("truth"))
            if shown is not None:
                cells.append(shown)
                titles.append(COLUMN_TITLES[column])
            if task.view == "text":
                texts.append(f"{COLUMN_TITLES[column]}: {value}")
        row = viz.grid([cells], titles=titles if len(parts) == 1 else None, cell=cell) if cells else None
        if texts:
            text = viz.stack([viz.text_block(t, 5 * cell, size=11) for t in texts], pad=1)
            row = _beside(row, text) if row is not None else text
        if row is not None:
            parts.append(row)
    return viz.stack(parts, pad=2)
