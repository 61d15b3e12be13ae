"""Figure 5 — a guidance sweep: weighted multi-condition guidance
(:meth:`~omnimask.generation.Guidance.weighted`) with the caption fixed and the depth condition's
weight varied, negative weights included (steering away from the given depth).
"""

from __future__ import annotations

from omnimask.demo.context import DemoContext, Figure, scene_label
from omnimask.demo.layout import GIVEN, Cell, panel
from omnimask.demo.pictures import decoded_picture, map_picture, text_picture
from omnimask.generation.plan import describe_plan

SLUG = "5_guidance_sweep"
TITLE = "Guidance sweep: caption fixed, depth weight varied"
EXPLANATION = (
    "RGB is generated from a caption and a depth map with weighted multi-condition guidance: "
    "logits = u + w_caption·(c_caption − u) + w_depth·(c_depth − u), where c_x is the pass that sees "
    "only condition x and u the pass that sees neither. The caption weight stays fixed; the depth "
    "weight runs over the columns, from negative (steer away from that depth layout) through 0 "
    "(the caption alone) to strong. Same seed in every column."
)
#: Depth weights of the columns, and the fixed caption weight.
DEPTH_WEIGHTS: tuple[float, ...] = (-1.0, 0.0, 1.0, 2.0, 3.0)
CAPTION_WEIGHT = 1.5


def make(ctx: DemoContext) -> Figure:
    dm = ctx.dm
    missing = dm.missing(inputs=["caption", "depth"], outputs=["tok_rgb"])
    if missing:
        return ctx.skip(SLUG, TITLE, EXPLANATION, missing)
    scenes = ctx.scenes(min(ctx.num, 2))
    guided = (dm.name("caption"), dm.name("depth"))
    rows, plans, seconds = [], [], 0.0
    for sample in scenes:
        conditions = dm.conditions({"caption": [sample["caption"]], "depth": [sample["depth"]]})
        row = [Cell(map_picture("depth", sample["depth"]), frame=GIVEN), Cell(text_picture(sample["caption"], ctx.cell),
                                                                               frame=GIVEN)]
        for w in DEPTH_WEIGHTS:
            the_plan = dm.plan(["caption", "depth"], ["tok_rgb"],
                               rgb={"guidance_scale": (CAPTION_WEIGHT, w), "guidance_conditions": guided})
            plans.append(the_plan)
            timed = dm.generate(conditions, the_plan, ctx.seed)
            seconds += timed.seconds
            rgb = dm.decode(timed.generation.state, ["tok_rgb"])["tok_rgb"]
            row.append(Cell(decoded_picture("tok_rgb", rgb, ctx.cell), note=f"w_depth = {w:+g}"))
        row.append(Cell(sample["rgb"]))
        rows.append(row)
    columns = ["depth (given)", "caption (given)", *[f"depth weight {w:+g}" for w in DEPTH_WEIGHTS],
               "scene RGB (truth)"]
    image = panel(rows, title=f"{TITLE} (caption weight {CAPTION_WEIGHT:g})", columns=columns,
                  row_labels=[scene_label(s) for s in scenes], cell=ctx.cell)
    return Figure(SLUG, TITLE, EXPLANATION, image,
                  conditions=f"{guided[0]}: the scene's caption (weight {CAPTION_WEIGHT:g}); {guided[1]}: the "
                             f"scene's depth map (weight {', '.join(f'{w:+g}' for w in DEPTH_WEIGHTS)})",
                  plan=describe_plan(plans[0]) + " — depth weight varied per column", seed=ctx.seed,
                  facts=[f"generation: {seconds:.2f} s for {len(plans)} images"])
