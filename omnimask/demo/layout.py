"""Labelled figure panels for the demo: a title, column titles, row labels, per-cell notes, footers.

:func:`panel` lays out rows of :class:`Cell` pictures (each resized to ``cell``²) under a title and
column titles, with a label left of every row, an optional note under each cell (a guidance weight,
a similarity) and an optional text footer under a row (captions, what was given). Built on the
Pillow helpers of :mod:`omnimask.viz`, so every figure of the page has the same look.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from omnimask import viz

PAD = 4
#: Frame colour of a highlighted cell (e.g. the right answer of a retrieval).
GOOD = (40, 170, 60)
#: Frame colour of a condition (what the model was given).
GIVEN = (40, 90, 220)


#: Characters Pillow's built-in font lacks, written with ones it has.
PLAIN = str.maketrans({"→": "->", "←": "<-", "−": "-", "×": "x", "—": "-", "–": "-", "²": "^2", "≈": "~",
                       "≤": "<=", "≥": ">="})


def text(value: str, width: int, size: int) -> Image.Image:
    """:func:`omnimask.viz.text_block` with the characters of :data:`PLAIN` replaced."""
    return viz.text_block(value.translate(PLAIN), width, size=size)


@dataclasses.dataclass(frozen=True)
class Cell:
    """One picture of a panel.

    Attributes:
        image: a uint8 array or image (None: an empty cell).
        note: short text written under the picture.
        frame: colour of a thick frame around it (None: a thin grey one).
    """

    image: np.ndarray | Image.Image | None
    note: str = ""
    frame: tuple[int, int, int] | None = None


def _notes_height(row: Sequence[Cell], cell: int, size: int) -> int:
    heights = [text(c.note, cell, size=size).height for c in row if c.note]
    return max(heights, default=0)


def panel(
    rows: Sequence[Sequence[Cell]],
    *,
    title: str,
    columns: Sequence[str] = (),
    row_labels: Sequence[str] = (),
    footers: Sequence[str | None] = (),
    cell: int = 128,
    label_width: int = 110,
) -> Image.Image:
    """Lay out a labelled figure.

    Args:
        rows: R rows of cells (rows may be shorter than others).
        title: written across the top.
        columns: titles of the columns (C at most), above the first row.
        row_labels: R labels written left of the rows (empty: no label column).
        footers: per row, text written under the row across the panel (None or "" for none).
        cell: side of each picture in pixels.
        label_width: width of the row-label column.
    """
    n_cols = max((len(r) for r in rows), default=1)
    left = label_width + PAD if row_labels else 0
    width = left + n_cols * (cell + PAD) + PAD
    note_size = max(9, cell // 12)
    head = text(title, width - 2 * PAD, size=max(13, cell // 8))
    col_size = max(10, cell // 11)
    col_blocks = [text(c, cell, size=col_size) for c in columns]
    col_h = max((b.height for b in col_blocks), default=0)
    footer_blocks = [text(f, width - left - 2 * PAD, size=note_size) if f else None
                     for f in list(footers) + [None] * (len(rows) - len(footers))]
    heights = [cell + PAD + _notes_height(r, cell, note_size) + (f.height + PAD if f else 0)
               for r, f in zip(rows, footer_blocks)]
    img = Image.new("RGB", (width, head.height + col_h + 2 * PAD + sum(heights) + PAD), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    img.paste(head, (PAD, PAD))
    y = head.height + PAD
    for c, block in enumerate(col_blocks):
        img.paste(block, (left + PAD + c * (cell + PAD), y))
    y += col_h + PAD
    for r, (row, footer, h) in enumerate(zip(rows, footer_blocks, heights)):
        if row_labels:
            label = text(row_labels[r] if r < len(row_labels) else "", label_width, size=col_size)
            img.paste(label.crop((0, 0, label_width, min(label.height, cell))), (PAD, y))
        for c, item in enumerate(row):
            x = left + PAD + c * (cell + PAD)
            if item.image is not None:
                img.paste(viz.to_image(item.image, cell), (x, y))
            if item.frame is not None:
                draw.rectangle([x - 2, y - 2, x + cell + 1, y + cell + 1], outline=item.frame, width=3)
            else:
                draw.rectangle([x - 1, y - 1, x + cell, y + cell], outline=(200, 200, 200))
            if item.note:
                img.paste(text(item.note, cell, size=note_size), (x, y + cell + 2))
        if footer is not None:
            img.paste(footer, (left + PAD, y + h - footer.height - PAD))
        y += h
    return img

