"""Figure 2 — caption → all: an RGB image generated from a written caption first, then every other
modality chained after it (4M's text-to-image, followed by any-to-any from the result).
"""

from __future__ import annotations

from omnimask.demo.context import DemoContext, Figure
from omnimask.demo.layout import GIVEN, Cell, panel
from omnimask.demo.pictures import decoded_picture, semantic_legend, text_picture
from omnimask.generation.plan import describe_plan

SLUG = "2_caption_to_all"
TITLE = "Caption → all (RGB first, then the rest chained)"
EXPLANATION = (
    "Each row starts from a caption written for this demo in SynthWorld's style (not taken from a "
    "scene). The model generates RGB tokens from it first (a few ROAR steps with sampling and "
    "classifier-free guidance), then every other modality, each conditioned on the caption and on "
    "everything generated before it. Boxes are drawn on the generated RGB image."
)
#: Captions written for the demo (SynthWorld's wording; colours, materials and shapes it knows).
CAPTIONS: tuple[str, ...] = (
    "A checkered floor with a red cube and a blue sphere. The red cube is to the left of the blue sphere.",
    "There are two objects on the tiled floor: a shiny yellow cylinder and a green cone.",
    "This scene shows a purple torus in front of a wall.",
    "We see two matte orange capsules on a chequered ground.",
    "A bare checkered floor under the sky.",
)


def make(ctx: DemoContext) -> Figure:
    dm = ctx.dm
    rest = dm.outputs(exclude=("tok_rgb", "caption"))
    missing = dm.missing(inputs=["caption"], outputs=["tok_rgb"])
    if missing:
        return ctx.skip(SLUG, TITLE, EXPLANATION, missing)
    captions = [CAPTIONS[i % len(CAPTIONS)] for i in range(ctx.num)]
    targets = ["tok_rgb", *rest]
    the_plan = dm.plan(["caption"], targets)
    timed = dm.generate(dm.conditions({"caption": captions}), the_plan, seed=ctx.seed)
    rows = []
    for b, caption in enumerate(captions):
        decoded = dm.decode(timed.generation.state, targets, sample=b)
        rgb = decoded["tok_rgb"].value
        rows.append([Cell(text_picture(caption, ctx.cell), frame=GIVEN)]
                    + [Cell(decoded_picture(r, decoded[r], ctx.cell, base=rgb)) for r in targets])
    image = panel(rows, title=f"{TITLE} — {len(captions)} written captions",
                  columns=["caption (given)", *[dm.title(r) for r in targets]],
                  row_labels=[f"caption {i + 1}" for i in range(len(captions))], cell=ctx.cell)
    image = semantic_legend(image) if "semseg" in targets else image
    listed = " | ".join(f"{i + 1}: “{c}”" for i, c in enumerate(captions))
    return Figure(SLUG, TITLE, EXPLANATION, image, conditions=f"{dm.name('caption')}: {listed}",
                  plan=describe_plan(the_plan), seed=ctx.seed,
                  facts=[f"generation: {timed.seconds:.2f} s for {len(captions)} captions in one batch"])
