"""The SynthWorld preview grid: one row per scene, one column per modality, caption and palette beneath.

Columns: RGB, RGB with the ``det`` boxes and labels, depth (viridis on inverse depth, sky black),
normals as RGB, semantic classes and instances (fixed palettes), occlusion edges. Under each row:
the caption, the colour palette as proportional chips and a few metadata values. A legend of the
semantic palette closes the picture.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from omnimask import viz
from omnimask.data.synthworld.config import SEMANTIC_CLASSES

#: Fixed colours of the semantic classes (sky, floor, wall, then the shapes), in class-id order.
SEMANTIC_PALETTE: np.ndarray = np.array(
    [
        [135, 190, 235],
        [196, 164, 122],
        [150, 150, 150],
        [230, 25, 75],
        [60, 180, 75],
        [0, 130, 200],
        [245, 130, 48],
        [145, 30, 180],
        [240, 50, 230],
    ],
    dtype=np.uint8,
)

COLUMNS: tuple[str, ...] = ("rgb", "det", "depth", "normal", "semseg", "instance", "edges")


def sample_cells(sample: dict, cell: int) -> list[Image.Image]:
    """The colourised modalities of one rendered sample, in :data:`COLUMNS` order, each ``cell``²."""
    det = sample["det"]
    boxes = viz.draw_boxes(
        sample["rgb"],
        [d["box"] for d in det],
        [f"{d['colour']} {d['class']}" for d in det],
        [viz.LABEL_PALETTE[d["instance"]] for d in det],
        cell,
    )
    edges = np.where(sample["edges"][..., None], 0, 255).astype(np.uint8).repeat(3, axis=-1)
    cells = [
        sample["rgb"],
        boxes,
        viz.colorize_depth(sample["depth"]),
        viz.colorize_normals(sample["normal"]),
        viz.colorize_labels(sample["semseg"], SEMANTIC_PALETTE),
        viz.colorize_labels(sample["instance"]),
        edges,
    ]
    return [viz.to_image(c, cell) for c in cells]


def sample_footer(sample: dict, width: int) -> Image.Image:
    """Caption, palette chips and a metadata line for one sample, ``width`` pixels wide."""
    meta = sample["metadata"]
    key = sample.get("key", "")
    facts = (
        f"{key}  objects {meta['n_coco_instances']} · brightness {meta['brightness']:.0f} · "
        f"contrast {meta['contrast']:.0f} · colourfulness {meta['colorfulness']:.0f} · "
        f"walkability {meta['walkability']:.2f} · objectness {meta['objectness']:.2f} · "
        f"occlusion {meta['occlusion_score']:.3f} · geometric complexity {meta['geometric_complexity']:.2f}"
    )
    palette = sample["color_palette"]
    return viz.stack(
        [
            viz.text_block(sample["caption"], width, size=13),
            viz.swatches(palette["colors"], palette["fractions"], min(width, 360), 14),
            viz.text_block(facts, width, size=10, color=(90, 90, 90)),
        ],
        pad=2,
    )


def preview_grid(samples: Sequence[dict], cell: int = 128) -> Image.Image:
    """The full preview picture of ``samples`` (see the module docstring)."""
    width = len(COLUMNS) * (cell + 4) - 4
    picture = viz.grid(
        [sample_cells(s, cell) for s in samples],
        titles=COLUMNS,
        footers=[sample_footer(s, width) for s in samples],
        cell=cell,
    )
    key = viz.legend(SEMANTIC_CLASSES, SEMANTIC_PALETTE, picture.width - 8)
    return viz.stack([picture, key])
