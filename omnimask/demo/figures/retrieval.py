"""Figure 7 — retrieval through a predicted global embedding (4M-21's any-to-any retrieval): the
model predicts the global embedding modality (e.g. ``tok_clip_global``) from a query of one modality
(caption, depth, semantic map) and from every gallery image (RGB); gallery images are ranked by the
cosine similarity of the decoded embeddings, and the top three are shown.
"""

from __future__ import annotations

import numpy as np
import torch

from omnimask.batch import Batch
from omnimask.demo.context import DemoContext, Figure, scene_label
from omnimask.demo.layout import GIVEN, GOOD, Cell, panel
from omnimask.demo.model import DemoModel
from omnimask.demo.pictures import role_picture
from omnimask.generation.plan import describe_plan
from omnimask.metrics import recall_at_k

SLUG = "7_retrieval"
TITLE = "Retrieval: top-3 RGB images for queries of several modalities"
EXPLANATION = (
    "The model predicts the global embedding from the query alone (one modality per row) and from "
    "each gallery scene's RGB image; the gallery is ranked by cosine similarity of the decoded "
    "embeddings (equal similarities in a random order). A green frame marks the scene the query was "
    "taken from. Recall@3 counts, over every gallery scene used as a query, how often its own image is "
    "among the top three."
)
#: Query roles, in row order.
QUERIES: tuple[str, ...] = ("caption", "depth", "semseg")
TOP = 3


def embeddings(dm: DemoModel, state: Batch) -> np.ndarray:
    """(B, E) unit vectors: the generated global tokens decoded (or one-hot ids without a tokenizer)."""
    name = dm.name("global")
    ids = state[name].tensor.long()
    tokenizer = dm.tokenizers.get(name)
    if tokenizer is not None:
        raw = tokenizer.detokenize(ids)
        vectors = (raw.detach().cpu().numpy() if isinstance(raw, torch.Tensor) else np.asarray(raw))
        vectors = vectors.reshape(len(ids), -1).astype(np.float64)
    else:
        vectors = torch.nn.functional.one_hot(ids, dm.specs[name].vocab_size).reshape(len(ids), -1).double().numpy()
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def make(ctx: DemoContext) -> Figure:
    dm = ctx.dm
    missing = dm.missing(inputs=["rgb"], outputs=["global"])
    queries = [q for q in QUERIES if not dm.missing(inputs=[q])]
    if missing or not queries:
        return ctx.skip(SLUG, TITLE, EXPLANATION, missing or [f"any query modality of {list(QUERIES)}"])
    gallery = ctx.scenes(max(12, 8 * ctx.num))
    size = len(gallery)
    gallery_plan = dm.plan(["rgb"], ["global"])
    timed = dm.generate(dm.conditions({"rgb": [s["rgb"] for s in gallery]}), gallery_plan, ctx.seed)
    keys, seconds, plans = embeddings(dm, timed.generation.state), timed.seconds, [gallery_plan]
    shown = min(ctx.num, 2)
    rows, labels, facts = [], [], []
    for role in queries:
        query_plan = dm.plan([role], ["global"])
        plans.append(query_plan)
        timed = dm.generate(dm.conditions({role: [s[role] for s in gallery]}), query_plan, ctx.seed)
        seconds += timed.seconds
        sims = embeddings(dm, timed.generation.state) @ keys.T  # (G queries, G gallery)
        ties = np.random.default_rng(ctx.seed).random(sims.shape)  # equal similarities in a random order
        ranks = np.lexsort((ties, -sims), axis=1)[:, :TOP]
        recall = recall_at_k(sims, TOP)
        facts.append(f"{role} → RGB: recall@{TOP} {recall:.2f} over {size} scenes (chance {TOP / size:.2f})")
        for q in range(shown):
            row = [Cell(role_picture(role, gallery[q][role], ctx.cell, base=gallery[q]["rgb"]), frame=GIVEN)]
            for k in ranks[q]:
                row.append(Cell(gallery[k]["rgb"], note=f"{scene_label(gallery[k])} · cos {sims[q, k]:.2f}",
                                frame=GOOD if k == q else None))
            rows.append(row)
            labels.append(f"{role} of {scene_label(gallery[q])}")
    image = panel(rows, title=f"{TITLE} — gallery of {size} held-out scenes",
                  columns=["query", *[f"top {i + 1}" for i in range(TOP)]], row_labels=labels, cell=ctx.cell)
    return Figure(SLUG, TITLE, EXPLANATION, image,
                  conditions=f"queries: {', '.join(dm.name(q) for q in queries)} of a gallery scene; gallery: "
                             f"{dm.name('rgb')} of {size} scenes; both predict {dm.name('global')}",
                  plan=" | ".join(describe_plan(p) for p in plans[:2]) + " (same for every query modality)",
                  seed=ctx.seed, facts=[*facts, f"generation: {seconds:.2f} s"])
