"""Pictures of modalities: colourising maps and laying out labelled PNG grids (Pillow only).

Used by ``omnimask synth --preview`` and ``omnimask demo`` to show SynthWorld scenes, and by later
tools to show generated modalities next to their conditions. Nothing here needs matplotlib: the
perceptual colour map is a small viridis table (17 samples, linearly interpolated), segmentation
ids get a fixed palette, and text uses Pillow's built-in font.

All colourisers take NumPy maps and return (H, W, 3) uint8 arrays; :func:`grid` assembles cells into a
``PIL.Image`` with column titles and optional per-row footers.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

#: Viridis sampled at 17 evenly spaced points (sRGB 0–255); :func:`colormap` interpolates between them.
VIRIDIS: np.ndarray = np.array(
    [
        [68, 1, 84],
        [72, 24, 106],
        [71, 45, 123],
        [66, 64, 134],
        [59, 82, 139],
        [51, 99, 141],
        [44, 114, 142],
        [38, 130, 142],
        [33, 145, 140],
        [31, 160, 136],
        [40, 174, 128],
        [63, 188, 115],
        [94, 201, 98],
        [132, 212, 75],
        [173, 220, 48],
        [216, 226, 25],
        [253, 231, 37],
    ],
    dtype=np.float64,
)

#: A fixed palette for integer labels: id 0 is black, the rest are well separated hues.
LABEL_PALETTE: np.ndarray = np.array(
    [
        [0, 0, 0],
        [230, 25, 75],
        [60, 180, 75],
        [255, 225, 25],
        [0, 130, 200],
        [245, 130, 48],
        [145, 30, 180],
        [70, 240, 240],
        [240, 50, 230],
        [210, 245, 60],
        [250, 190, 212],
        [0, 128, 128],
        [220, 190, 255],
        [170, 110, 40],
        [255, 250, 200],
        [128, 0, 0],
        [170, 255, 195],
        [128, 128, 0],
        [255, 215, 180],
        [0, 0, 128],
        [128, 128, 128],
        [255, 255, 255],
    ],
    dtype=np.uint8,
)


def font(size: int = 12) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's built-in font at ``size`` pixels (a bitmap fallback on Pillow < 10.1)."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:
        return ImageFont.load_default()


def colormap(values: np.ndarray, table: np.ndarray = VIRIDIS) -> np.ndarray:
    """Map values in [0, 1] (any shape S) to colours S + (3,) uint8 by interpolating ``table``."""
    x = np.clip(np.nan_to_num(values, nan=0.0), 0.0, 1.0) * (len(table) - 1)
    low = np.minimum(np.floor(x).astype(np.int64), len(table) - 2)
    frac = (x - low)[..., None]
    return np.rint(table[low] * (1 - frac) + table[low + 1] * frac).astype(np.uint8)


def colorize_depth(depth: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """(H, W) depth → (H, W, 3): viridis on inverse depth (near = yellow, far = purple), invalid black.

    Inverse depth is normalised between its 1st and 99th percentile over valid pixels, which keeps a
    far horizon from flattening the near range. ``valid`` defaults to ``depth > 0``.
    """
    valid = depth > 0 if valid is None else valid
    out = np.zeros((*depth.shape, 3), dtype=np.uint8)
    if not valid.any():
        return out
    inv = 1.0 / depth[valid].astype(np.float64)
    lo, hi = np.percentile(inv, [1, 99])
    out[valid] = colormap((inv - lo) / max(hi - lo, 1e-12))
    return out


def colorize_normals(normal: np.ndarray) -> np.ndarray:
    """(H, W, 3) unit normals → RGB ``(n + 1) / 2``; zero vectors (invalid) stay black."""
    rgb = np.rint((np.clip(normal, -1, 1) + 1) * 127.5).astype(np.uint8)
    rgb[np.all(normal == 0, axis=-1)] = 0
    return rgb


def colorize_labels(ids: np.ndarray, palette: np.ndarray = LABEL_PALETTE) -> np.ndarray:
    """(H, W) integer ids → (H, W, 3) colours from a fixed palette (ids wrap past its end)."""
    palette = np.asarray(palette, dtype=np.uint8)
    return palette[np.asarray(ids, dtype=np.int64) % len(palette)]


def colorize_features(features: np.ndarray) -> np.ndarray:
    """(H, W, C) feature map → (H, W, 3): its first three principal components, each stretched to 0–255.

    The usual way to look at CLIP / DINOv2 patch features: patches with similar features get similar
    colours. The projection is fitted per map, so colours compare within a picture, not across.
    """
    flat = np.asarray(features, dtype=np.float64).reshape(-1, features.shape[-1])
    centered = flat - flat.mean(axis=0)
    _, _, vt = np.linalg.svd(centered, full_matrices=False)
    comps = centered @ vt[:3].T
    comps = np.pad(comps, ((0, 0), (0, 3 - comps.shape[1])))
    lo, hi = comps.min(axis=0), comps.max(axis=0)
    scaled = (comps - lo) / np.maximum(hi - lo, 1e-12)
    return np.rint(scaled * 255).astype(np.uint8).reshape(*features.shape[:-1], 3)


def to_image(cell: np.ndarray | Image.Image, size: int) -> Image.Image:
    """A uint8 (H, W[, 3]) array or image, made RGB and resized (nearest: pixels stay crisp) to ``size``²."""
    img = cell if isinstance(cell, Image.Image) else Image.fromarray(np.asarray(cell))
    img = img.convert("RGB")
    return img if img.size == (size, size) else img.resize((size, size), Image.Resampling.NEAREST)


def draw_boxes(
    image: np.ndarray | Image.Image,
    boxes: Sequence[Sequence[float]],
    labels: Sequence[str],
    colors: Sequence[Sequence[int]],
    size: int,
) -> Image.Image:
    """Draw normalised ``[xmin, ymin, xmax, ymax]`` boxes with labels on ``image`` scaled to ``size``²."""
    img = to_image(image, size)
    draw = ImageDraw.Draw(img)
    fnt = font(max(9, size // 12))
    for box, label, color in zip(boxes, labels, colors):
        x0, y0, x1, y1 = (round(v * size) for v in box)
        color = tuple(int(c) for c in color)
        draw.rectangle([x0, y0, x1 - 1, y1 - 1], outline=color, width=max(1, size // 96))
        left, top, right, bottom = draw.textbbox((0, 0), label, font=fnt)
        ty = y0 - (bottom - top) - 3 if y0 - (bottom - top) - 3 >= 0 else y1 + 1
        tx = min(max(x0, 0), max(size - (right - left) - 2, 0))
        draw.rectangle([tx, ty, tx + right - left + 2, ty + bottom + 2], fill=color)
        ink = (0, 0, 0) if sum(color) > 380 else (255, 255, 255)
        draw.text((tx + 1, ty), label, fill=ink, font=fnt)
    return img


def swatches(
    colors: Sequence[Sequence[int]], fractions: Sequence[float] | None, width: int, height: int
) -> Image.Image:
    """A strip of colour chips, each as wide as its share (equal widths when ``fractions`` is None)."""
    img = Image.new("RGB", (width, height), (255, 255, 255))
    if not colors:
        return img
    shares = np.asarray(fractions if fractions is not None else [1.0] * len(colors), dtype=np.float64)
    edges = np.rint(np.concatenate([[0], np.cumsum(shares / shares.sum())]) * width).astype(int)
    draw = ImageDraw.Draw(img)
    for color, x0, x1 in zip(colors, edges[:-1], edges[1:]):
        draw.rectangle([int(x0), 0, max(int(x1) - 1, int(x0)), height - 1], fill=tuple(int(c) for c in color))
    return img


def text_block(text: str, width: int, size: int = 12, color: tuple[int, int, int] = (20, 20, 20)) -> Image.Image:
    """``text`` word-wrapped to ``width`` pixels on a white background, as tall as it needs."""
    fnt = font(size)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    char_w = max(1.0, probe.textlength("abcdefghijklmnopqrstuvwxyz", font=fnt) / 26)
    lines = textwrap.wrap(text, width=max(8, int(width / char_w))) or [""]
    line_h = size + 4
    img = Image.new("RGB", (width, line_h * len(lines) + 4), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        draw.text((2, 2 + i * line_h), line, fill=color, font=fnt)
    return img


def grid(
    rows: Sequence[Sequence[np.ndarray | Image.Image]],
    *,
    titles: Sequence[str] | None = None,
    footers: Sequence[Image.Image | None] | None = None,
    cell: int = 128,
    pad: int = 4,
) -> Image.Image:
    """Lay out ``rows`` of cells (each resized to ``cell``²) under column ``titles``.

    Args:
        rows: R rows of C cells each (uint8 arrays or images).
        titles: C column titles drawn above the first row.
        footers: per row, an optional image (e.g. a caption from :func:`text_block`) placed under the
            row, left-aligned and cropped to the grid width.
        cell: side of each cell in pixels.
        pad: gap between cells.
    """
    n_cols = max(len(r) for r in rows)
    width = n_cols * cell + (n_cols + 1) * pad
    title_h = cell // 8 + 8 if titles else 0
    footers = list(footers) if footers is not None else [None] * len(rows)
    heights = [cell + pad + (f.height + pad if f is not None else 0) for f in footers]
    img = Image.new("RGB", (width, title_h + pad + sum(heights)), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    if titles:
        fnt = font(max(10, cell // 9))
        for c, title in enumerate(titles):
            x = pad + c * (cell + pad)
            draw.text((x + (cell - draw.textlength(title, font=fnt)) / 2, 4), title, fill=(0, 0, 0), font=fnt)
    y = title_h + pad
    for row, footer, h in zip(rows, footers, heights):
        for c, value in enumerate(row):
            x = pad + c * (cell + pad)
            img.paste(to_image(value, cell), (x, y))
            draw.rectangle([x - 1, y - 1, x + cell, y + cell], outline=(200, 200, 200))  # frame light cells
        if footer is not None:
            img.paste(footer.crop((0, 0, min(footer.width, width - 2 * pad), footer.height)), (pad, y + cell + pad))
        y += h
    return img


def legend(
    names: Sequence[str], colors: Sequence[Sequence[int]] | np.ndarray, width: int, size: int = 12
) -> Image.Image:
    """Colour chips with their names, flowed left to right over as many lines as ``width`` needs."""
    fnt = font(size)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    items = [
        (name, tuple(int(c) for c in color), int(probe.textlength(name, font=fnt)) + size + 14)
        for name, color in zip(names, colors)
    ]
    lines, x = 1, 4
    for _, _, w in items:
        if x + w > width and x > 4:
            lines, x = lines + 1, 4
        x += w
    line_h = size + 6
    img = Image.new("RGB", (width, lines * line_h + 4), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    x, y = 4, 2
    for name, color, w in items:
        if x + w > width and x > 4:
            x, y = 4, y + line_h
        draw.rectangle([x, y + 2, x + size - 1, y + size + 1], fill=color, outline=(60, 60, 60))
        draw.text((x + size + 4, y), name, fill=(20, 20, 20), font=fnt)
        x += w
    return img


def stack(images: Sequence[Image.Image], pad: int = 4) -> Image.Image:
    """Images placed one under the other, left-aligned, on white."""
    width = max(im.width for im in images)
    out = Image.new("RGB", (width, sum(im.height for im in images) + pad * (len(images) - 1)), (255, 255, 255))
    y = 0
    for im in images:
        out.paste(im, (0, y))
        y += im.height + pad
    return out
