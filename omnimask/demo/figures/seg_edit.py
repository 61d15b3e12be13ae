"""Figure 4 — a segmentation edit: one object's class repainted in the semantic map
(:func:`~omnimask.generation.conditions.replace_class`, e.g. the cube becomes a sphere) and the RGB
generated again — from the edited map alone, and by in-painting the scene's own RGB tokens only
where the map changed (:func:`~omnimask.generation.conditions.inpaint`).
"""

from __future__ import annotations

import numpy as np

from omnimask.data.synthworld.config import SEMANTIC_CLASSES, SHAPE_IDS
from omnimask.demo.context import DemoContext, Figure, scene_label
from omnimask.demo.layout import GIVEN, Cell, panel
from omnimask.demo.pictures import decoded_picture, map_picture, semantic_legend
from omnimask.generation.conditions import changed_pixels, inpaint, replace_class
from omnimask.generation.plan import describe_plan

SLUG = "4_segmentation_edit"
TITLE = "Segmentation edit: one class repainted, RGB regenerated"
EXPLANATION = (
    "The largest object's class in the scene's semantic map is replaced by another shape class "
    "(the silhouette stays; only the label changes). The model generates RGB from the original map "
    "and from the edited one with the same seed, and, in the last column, in-paints the scene's own "
    "RGB tokens only where the map changed (the rest of the image is kept as given)."
)
#: Class each shape is repainted as.
REPAINT: dict[str, str] = {"cube": "sphere", "sphere": "cube", "cylinder": "cone", "cone": "cylinder",
                           "capsule": "torus", "torus": "capsule"}


def _largest_shape(semseg: np.ndarray) -> int | None:
    """Id of the shape class covering most pixels (None when no object is visible)."""
    ids = [i for i in SHAPE_IDS.values() if (semseg == i).any()]
    return max(ids, key=lambda i: int((semseg == i).sum())) if ids else None


def make(ctx: DemoContext) -> Figure:
    dm = ctx.dm
    missing = dm.missing(inputs=["semseg"], outputs=["tok_rgb"])
    if missing:
        return ctx.skip(SLUG, TITLE, EXPLANATION, missing)
    can_inpaint = not dm.missing(inputs=["tok_rgb"])
    scenes = ctx.find_scenes(lambda s: _largest_shape(s["semseg"]) is not None
                             and (s["semseg"] == _largest_shape(s["semseg"])).mean() > 0.02, min(ctx.num, 2))
    if not scenes:
        return ctx.skip(SLUG, TITLE, EXPLANATION, ["a held-out scene with a visible object"])
    the_plan = dm.plan(["semseg"], ["tok_rgb"])
    rows, labels, edits, seconds = [], [], [], 0.0
    for sample in scenes:
        old = _largest_shape(sample["semseg"])
        assert old is not None  # find_scenes kept only scenes with a shape
        old_name = SEMANTIC_CLASSES[old]
        new_name = REPAINT[old_name]
        edited = replace_class(sample["semseg"], old, SHAPE_IDS[new_name])
        edits.append(f"{scene_label(sample)}: {old_name} → {new_name}")
        pictures = []
        for semseg in (sample["semseg"], edited):
            timed = dm.generate(dm.conditions({"semseg": [semseg]}), the_plan, ctx.seed)
            seconds += timed.seconds
            pictures.append(decoded_picture("tok_rgb", dm.decode(timed.generation.state, ["tok_rgb"])["tok_rgb"],
                                            ctx.cell))
        row = [Cell(sample["rgb"]), Cell(map_picture("semseg", sample["semseg"]), frame=GIVEN), Cell(pictures[0]),
               Cell(map_picture("semseg", edited), note=f"{old_name} → {new_name}", frame=GIVEN), Cell(pictures[1])]
        if can_inpaint:
            keep = ~changed_pixels(sample["semseg"], edited)
            state = dm.conditions({"semseg": [edited], "tok_rgb": [sample["rgb"]]})
            name = dm.name("tok_rgb")
            state[name] = inpaint(state[name], dm.specs[name], keep)
            timed = dm.generate(state, the_plan, ctx.seed)
            seconds += timed.seconds
            regenerated = int((~keep).sum())
            row.append(Cell(decoded_picture("tok_rgb", dm.decode(timed.generation.state, ["tok_rgb"])["tok_rgb"],
                                            ctx.cell), note=f"{regenerated} changed pixels regenerated"))
        rows.append(row)
        labels.append(scene_label(sample))
    columns = ["scene RGB (truth)", "semseg (given)", "RGB from semseg", "edited semseg (given)",
               "RGB from edited semseg"] + (["edited: RGB in-painted where the map changed"] if can_inpaint else [])
    image = semantic_legend(panel(rows, title=f"{TITLE} — {'; '.join(edits)}", columns=columns, row_labels=labels,
                                  cell=ctx.cell))
    return Figure(SLUG, TITLE, EXPLANATION, image,
                  conditions=f"{dm.name('semseg')}: the scene's semantic map, then the edited one ({'; '.join(edits)})"
                             + (f"; in-painting also keeps {dm.name('tok_rgb')} tokens whose pixels did not change"
                                if can_inpaint else ""),
                  plan=describe_plan(the_plan), seed=ctx.seed,
                  note="" if can_inpaint else "In-painting skipped: the model takes no RGB tokens as input.",
                  facts=[f"generation: {seconds:.2f} s"])
