"""Figure 3 — a bounding box moves and the RGB follows: one ``det`` box shifted step by step
(:func:`~omnimask.generation.conditions.move_box`), the RGB image regenerated from the edited boxes
and the scene's caption each time, with the same seed, so only the box differs between columns.
"""

from __future__ import annotations

from omnimask.demo.context import DemoContext, Figure, scene_label
from omnimask.demo.layout import Cell, panel
from omnimask.demo.pictures import boxes_picture, decoded_picture
from omnimask.evaluation.metrics.placement import inside_boxes
from omnimask.generation.conditions import inpaint, move_box
from omnimask.generation.plan import describe_plan

SLUG = "3_box_moves"
TITLE = "A box moves, the RGB follows"
EXPLANATION = (
    "One box of the scene's detections is shifted sideways in equal steps (first column: the scene "
    "itself; second: its boxes unchanged). For every column the model generates RGB from the edited "
    "boxes together with the scene's caption (which keeps what the objects are), with the same seed, "
    "so the box position is the only thing that changes. Upper row: the boxes given, drawn on the "
    "generated image; middle row: the generated image alone; lower row: the scene's own RGB tokens are "
    "kept wherever neither the old nor the new box lies and only the rest is generated (in-painting)."
)
#: Moves after the unchanged boxes.
STEPS = 4


def _box_steps(box: list[float]) -> list[float]:
    """Horizontal offsets 0, d, 2d, … toward the side with more room (the box stays inside the image)."""
    x0, _, x1, _ = box
    room, sign = (1.0 - x1, 1.0) if (1.0 - x1) >= x0 else (x0, -1.0)
    step = min(0.1, room / STEPS)
    return [sign * step * k for k in range(STEPS + 1)]


def make(ctx: DemoContext) -> Figure:
    dm = ctx.dm
    missing = dm.missing(inputs=["det", "caption"], outputs=["tok_rgb"])
    if missing:
        return ctx.skip(SLUG, TITLE, EXPLANATION, missing)
    found = ctx.find_scenes(lambda s: 1 <= len(s["det"]) <= 2, 1)
    if not found:
        return ctx.skip(SLUG, TITLE, EXPLANATION, ["a held-out scene with one or two boxes"])
    sample = found[0]
    can_inpaint = not dm.missing(inputs=["tok_rgb"])
    index = max(range(len(sample["det"])), key=lambda i: sample["det"][i]["visible_fraction"])
    offsets = _box_steps(sample["det"][index]["box"])
    the_plan = dm.plan(["det", "caption"], ["tok_rgb"])
    rows = [[Cell(boxes_picture(sample["det"], sample["rgb"], ctx.cell))], [Cell(sample["rgb"])]]
    rows += [[Cell(sample["rgb"])]] if can_inpaint else []
    seconds = 0.0
    for dx in offsets:
        boxes = move_box(sample["det"], index, dx=dx)
        conditions = dm.conditions({"det": [boxes], "caption": [sample["caption"]]})
        timed = dm.generate(conditions, the_plan, ctx.seed)
        picture = decoded_picture("tok_rgb", dm.decode(timed.generation.state, ["tok_rgb"])["tok_rgb"], ctx.cell)
        rows[0].append(Cell(boxes_picture(boxes, picture, ctx.cell), note=f"dx = {dx:+.2f}"))
        rows[1].append(Cell(picture))
        seconds += timed.seconds
        if can_inpaint:  # keep the scene's RGB tokens outside the old and the new box
            name = dm.name("tok_rgb")
            keep = ~inside_boxes([sample["det"][index], boxes[index]], dm.resolution, dm.resolution)
            conditions[name] = inpaint(dm.condition("tok_rgb", [sample["rgb"]]), dm.specs[name], keep)
            timed = dm.generate(conditions, the_plan, ctx.seed)
            rows[2].append(Cell(decoded_picture("tok_rgb", dm.decode(timed.generation.state, ["tok_rgb"])["tok_rgb"],
                                                ctx.cell)))
            seconds += timed.seconds
    moved = sample["det"][index]["class"]
    labels = ["boxes given (on the generated RGB)", "generated RGB"]
    labels += ["in-painted: scene RGB kept outside the old and new box"] if can_inpaint else []
    image = panel(rows, title=f"{TITLE} — the {moved} of {scene_label(sample)}, {STEPS} steps",
                  columns=["scene (truth)", "boxes unchanged", *[f"step {k}" for k in range(1, STEPS + 1)]],
                  row_labels=labels, footers=[None] * (len(rows) - 1) + [f"caption given: {sample['caption']}"],
                  cell=ctx.cell)
    inpainting = (f"; lowest row: also {dm.name('tok_rgb')} tokens of the scene wherever neither the old nor the "
                  "new box lies" if can_inpaint else "")
    return Figure(SLUG, TITLE, EXPLANATION, image,
                  conditions=f"{dm.name('det')}: the scene's boxes with box {index} ({moved}) shifted by dx; "
                             f"{dm.name('caption')}: “{sample['caption']}”{inpainting}",
                  plan=describe_plan(the_plan), seed=ctx.seed,
                  note="" if can_inpaint else "In-painting row skipped: the model takes no RGB tokens as input.",
                  facts=[f"generation: {seconds:.2f} s for {len(offsets) * len(rows[1:])} images"])
