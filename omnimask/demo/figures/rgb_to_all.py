"""Figure 1 — RGB → all, chained: every modality the model outputs, generated one after the other
from an RGB image (4M's any-to-any generation from pixels), with the ground truth beneath.

Each scene gets two rows: the generated modalities (each conditioned on the RGB image and on every
modality generated before it) and SynthWorld's exact rendering of the same modalities.
"""

from __future__ import annotations

from omnimask.demo.context import DemoContext, Figure, scene_label
from omnimask.demo.layout import GIVEN, Cell, panel
from omnimask.demo.pictures import decoded_picture, semantic_legend
from omnimask.generation.plan import describe_plan

SLUG = "1_rgb_to_all"
TITLE = "RGB → all (chained generation)"
EXPLANATION = (
    "Each scene's RGB image is the only condition; the model then generates every other modality it "
    "knows, one after the other, each conditioned on the image and on all modalities generated before "
    "it (4M's chained generation). The row under each scene is SynthWorld's exact ground truth. Boxes "
    "(det) are drawn on the input image."
)


def make(ctx: DemoContext) -> Figure:
    dm = ctx.dm
    targets = dm.outputs(exclude=("tok_rgb",))
    missing = dm.missing(inputs=["rgb"]) or ([] if targets else ["any output besides RGB"])
    if missing:
        return ctx.skip(SLUG, TITLE, EXPLANATION, missing)
    scenes = ctx.scenes(ctx.num)
    the_plan = dm.plan(["rgb"], targets)
    timed = dm.generate(dm.conditions({"rgb": [s["rgb"] for s in scenes]}), the_plan, seed=ctx.seed)
    rows, labels = [], []
    for b, sample in enumerate(scenes):
        decoded = dm.decode(timed.generation.state, targets, sample=b)
        rows.append([Cell(sample["rgb"], frame=GIVEN)]
                    + [Cell(decoded_picture(r, decoded[r], ctx.cell, base=sample["rgb"])) for r in targets])
        rows.append([Cell(sample["rgb"])] + [Cell(ctx.truth(r, sample)) for r in targets])
        labels += [f"{scene_label(sample)}: generated from RGB", "ground truth"]
    image = panel(rows, title=f"{TITLE} — {len(scenes)} held-out scenes",
                  columns=["RGB (given)", *[dm.title(r) for r in targets]], row_labels=labels,
                  cell=ctx.cell)
    image = semantic_legend(image) if "semseg" in targets else image
    return Figure(SLUG, TITLE, EXPLANATION, image, conditions=f"{dm.name('rgb')}: the scene's RGB image",
                  plan=describe_plan(the_plan), seed=ctx.seed,
                  facts=[f"generation: {timed.seconds:.2f} s for {len(scenes)} scenes in one batch"])
