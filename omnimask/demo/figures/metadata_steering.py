"""Figure 6 — metadata steering: RGB generated with one metadata value set
(:func:`~omnimask.generation.conditions.with_metadata`): brightness varied under a fixed caption, and
the number of objects varied on its own; each image is measured afterwards to check the steering.
"""

from __future__ import annotations

import numpy as np

from omnimask.data.synthworld.metadata import luminance
from omnimask.demo.context import DemoContext, Figure
from omnimask.demo.layout import Cell, panel
from omnimask.demo.pictures import boxes_picture, decoded_picture, map_picture
from omnimask.generation import Plan
from omnimask.generation.conditions import with_metadata
from omnimask.generation.plan import describe_plan

SLUG = "6_metadata_steering"
TITLE = "Metadata steering: brightness and object count"
EXPLANATION = (
    "RGB generated with one metadata entry given (4M-21's metadata modality). Upper row: a fixed "
    "caption plus a brightness value (mean luminance, 0–255) per column; under each image its measured "
    "brightness. Lower row: only the number of objects is given; the model then also predicts boxes "
    "from the generated image (chained), drawn on it and counted. Same seed in every column."
)
BRIGHTNESS: tuple[float, ...] = (100.0, 125.0, 150.0, 175.0, 200.0)
COUNTS: tuple[int, ...] = (0, 1, 2, 4, 6)
CAPTION = "There are two objects on the tiled floor: a red cube and a blue sphere."


def _brightness_row(ctx: DemoContext, with_caption: bool) -> tuple[list[Cell], Plan, float, list[float]]:
    """RGB per brightness value (with the fixed caption when the model reads captions), measured."""
    dm = ctx.dm
    the_plan = dm.plan(["caption", "metadata"] if with_caption else ["metadata"], ["tok_rgb"])
    cells, seconds, measured = [], 0.0, []
    for value in BRIGHTNESS:
        raw = with_metadata({"caption": CAPTION} if with_caption else {}, brightness=value)
        timed = dm.generate(dm.conditions({role: [v] for role, v in raw.items()}), the_plan, ctx.seed)
        seconds += timed.seconds
        rgb = dm.decode(timed.generation.state, ["tok_rgb"])["tok_rgb"]
        picture = decoded_picture("tok_rgb", rgb, ctx.cell)
        pixels = map_picture("tok_rgb", rgb.value) if rgb.value is not None else np.asarray(picture)
        measured.append(float(luminance(pixels).mean()))
        cells.append(Cell(picture, note=f"asked {value:.0f} · measured {measured[-1]:.0f}"))
    return cells, the_plan, seconds, measured


def _count_row(ctx: DemoContext, with_det: bool) -> tuple[list[Cell], Plan, float, list[int]]:
    """RGB per number of objects (metadata alone), with boxes predicted from it and counted."""
    dm = ctx.dm
    targets = ["tok_rgb", "det"] if with_det else ["tok_rgb"]
    the_plan = dm.plan(["metadata"], targets)
    cells, seconds, counted = [], 0.0, []
    for n in COUNTS:
        raw = with_metadata({}, n_coco_instances=n)
        timed = dm.generate(dm.conditions({role: [v] for role, v in raw.items()}), the_plan, ctx.seed)
        seconds += timed.seconds
        decoded = dm.decode(timed.generation.state, targets)
        picture = decoded_picture("tok_rgb", decoded["tok_rgb"], ctx.cell)
        if with_det:
            boxes = decoded["det"].value if isinstance(decoded["det"].value, list) else []
            counted.append(len(boxes))
            cells.append(Cell(boxes_picture(boxes, picture, ctx.cell), note=f"asked {n} · {len(boxes)} boxes"))
        else:
            cells.append(Cell(picture, note=f"asked {n} objects"))
    return cells, the_plan, seconds, counted


def make(ctx: DemoContext) -> Figure:
    dm = ctx.dm
    missing = dm.missing(inputs=["metadata"], outputs=["tok_rgb"])
    if missing:
        return ctx.skip(SLUG, TITLE, EXPLANATION, missing)
    with_caption, with_det = not dm.missing(inputs=["caption"]), not dm.missing(outputs=["det"])
    bright, bright_plan, bright_s, measured = _brightness_row(ctx, with_caption)
    count, count_plan, count_s, counted = _count_row(ctx, with_det)
    image = panel([bright, count], title=TITLE, cell=ctx.cell,
                  row_labels=["brightness" + (" (caption fixed)" if with_caption else ""), "number of objects"],
                  footers=[f"caption given: {CAPTION}" if with_caption else None, None])
    corr = float(np.corrcoef(BRIGHTNESS, measured)[0, 1]) if np.std(measured) > 0 else 0.0
    facts = [f"brightness asked {[round(b) for b in BRIGHTNESS]} → measured {[round(m) for m in measured]} "
             f"(correlation {corr:+.2f})"]
    if with_det:
        facts.append(f"objects asked {list(COUNTS)} → boxes predicted on the image {counted}")
    facts.append(f"generation: {bright_s + count_s:.2f} s for {len(BRIGHTNESS) + len(COUNTS)} images")
    caption = f"{dm.name('caption')} “{CAPTION}” + " if with_caption else ""
    return Figure(SLUG, TITLE, EXPLANATION, image,
                  conditions=f"upper row: {caption}{dm.name('metadata')} {{brightness: value}}; lower row: "
                             f"{dm.name('metadata')} {{n_coco_instances: value}}",
                  plan=f"{describe_plan(bright_plan)} | {describe_plan(count_plan)}", seed=ctx.seed, facts=facts)
