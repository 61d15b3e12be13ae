"""The evaluation tasks of ``omnimask eval`` as data: conditions, target, plan, metric, baseline.

Each :class:`Task` says which modalities (by role, :class:`~omnimask.evaluation.predict.Ref`) the
model is given and which it predicts, with which generation settings, how the ground truth of a
scene looks in the prediction's format, which metric scores it and which trivial baseline it is
compared with. The harness (:mod:`omnimask.evaluation.harness`) runs every task the same way.

Tasks (4M's out-of-the-box evaluation on SynthWorld):

=====================  =======================  ========================================================
name                   prediction               metric
=====================  =======================  ========================================================
depth                  RGB → depth              abs-rel, δ1
normal                 RGB → normals            mean / median angular error, % under 11.25°
semseg                 RGB → semantic classes   mIoU
det                    RGB → boxes              mAP@0.5
caption                RGB → caption            precision of stated colours / shapes / counts
caption2rgb            caption → RGB            R@1 of the own caption among 100 (MiniCLIP), CLIP score
boxes2rgb              caption + boxes → RGB    share of the image's foreground inside the given boxes
retrieval_caption2rgb  caption → global emb.    R@1 / R@5 against RGB → global embedding
retrieval_depth2rgb    depth → global emb.      R@1 / R@5 against RGB → global embedding
retrieval_semseg2rgb   semseg → global emb.     R@1 / R@5 against RGB → global embedding
retrieval_rgb2caption  RGB → global emb.        R@1 / R@5 against caption → global embedding
=====================  =======================  ========================================================
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from omnimask.data.synthworld import SEMANTIC_CLASSES
from omnimask.evaluation import baselines
from omnimask.evaluation.metrics import (
    BoxPlacementMetric,
    CaptionMetric,
    ClipScoreMetric,
    DepthMetric,
    DetectionMetric,
    Metric,
    NormalMetric,
    RetrievalMetric,
    SemsegMetric,
)
from omnimask.evaluation.predict import GLOBAL, RGB, Ref

CAPTION = Ref("sequence", "caption")
DET = Ref("sequence", "det")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Headline:
    """One row of the table: a metric key of the task's ``compute()`` and its direction."""

    key: str
    label: str
    higher_is_better: bool
    scale: float = 1.0  # shown value = metric value × scale (100 for percentages)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Task:
    """One evaluation task.

    Attributes:
        name: the ``--tasks`` name.
        title: the row label, e.g. ``RGB → depth``.
        inputs: the conditions given to the model.
        target: the predicted modality.
        metric: builds a fresh accumulator; gets the labeler (or None) for text–image metrics.
        truth: scene → ground truth in the prediction's format.
        reference: scene → what the metric compares a prediction with (default: ``truth``).
        baseline: ground truths of the set → one trivial prediction per scene.
        baseline_on_reference: the baseline is fitted on the references instead of the truths.
        headlines: the rows shown in the table.
        plan: generation settings (:func:`~omnimask.generation.plan` keywords, ``preset`` included).
        gallery: retrieval only — the modality the gallery side is predicted from.
        needs_labeler: the metric or the ground truth needs the image–text labeler (MiniCLIP).
        view: how the figure shows predictions: ``depth``, ``normal``, ``labels``, ``rgb``, ``boxes``,
            ``text`` or ``none``.
    """

    name: str
    title: str
    inputs: tuple[Ref, ...]
    target: Ref
    metric: Callable[[Any], Metric]
    truth: Callable[[Mapping[str, Any]], Any]
    reference: Callable[[Mapping[str, Any]], Any] | None = None
    baseline: Callable[[Sequence[Any]], list[Any]]
    baseline_on_reference: bool = False
    headlines: tuple[Headline, ...]
    plan: Mapping[str, Any] = dataclasses.field(default_factory=lambda: {"preset": "fast"})
    gallery: Ref | None = None
    needs_labeler: bool = False
    view: str = "none"

    def references(self, scenes: Sequence[Mapping[str, Any]]) -> list[Any]:
        """What the metric compares predictions with, per scene."""
        return [(self.reference or self.truth)(s) for s in scenes]


def _field(key: str) -> Callable[[Mapping[str, Any]], Any]:
    return lambda scene: scene[key]


def _retrieval(name: str, title: str, query: Ref, gallery: Ref) -> Task:
    return Task(
        name=name, title=title, inputs=(query,), gallery=gallery, target=GLOBAL,
        metric=lambda _: RetrievalMetric(ks=(1, 5), pool=100), truth=_field(GLOBAL.sample_key),
        baseline=baselines.mean_embedding, needs_labeler=True,
        headlines=(Headline(key="r@1", label="R@1", higher_is_better=True),
                   Headline(key="r@5", label="R@5", higher_is_better=True)),
    )  # fmt: skip


_DEPTH = Ref("image_tokens", "depth")
_SEMSEG = Ref("image_tokens", "semseg")

TASK_LIST: tuple[Task, ...] = (
    Task(name="depth", title="RGB → depth", inputs=(RGB,), target=_DEPTH, metric=lambda _: DepthMetric(),
         truth=_field("depth"), baseline=baselines.mean_depth, view="depth",
         headlines=(Headline(key="abs_rel", label="abs. rel. error", higher_is_better=False),
                    Headline(key="delta1", label="δ1", higher_is_better=True))),
    Task(name="normal", title="RGB → normals", inputs=(RGB,), target=Ref("image_tokens", "normal"),
         metric=lambda _: NormalMetric(), truth=_field("normal"), baseline=baselines.mean_normal, view="normal",
         headlines=(Headline(key="mean_angle", label="mean angle (°)", higher_is_better=False),
                    Headline(key="median_angle", label="median angle (°)", higher_is_better=False),
                    Headline(key="within_11.25", label="% < 11.25°", higher_is_better=True, scale=100.0))),
    Task(name="semseg", title="RGB → semseg", inputs=(RGB,), target=_SEMSEG,
         metric=lambda _: SemsegMetric(len(SEMANTIC_CLASSES)), truth=_field("semseg"),
         baseline=baselines.majority_class, view="labels",
         headlines=(Headline(key="miou", label="mIoU", higher_is_better=True),)),
    Task(name="det", title="RGB → det", inputs=(RGB,), target=DET, metric=lambda _: DetectionMetric(),
         truth=_field("det"), baseline=baselines.majority_box, view="boxes",
         headlines=(Headline(key="map50", label="mAP@0.5", higher_is_better=True),)),
    Task(name="caption", title="RGB → caption", inputs=(RGB,), target=CAPTION, metric=lambda _: CaptionMetric(),
         truth=_field("caption"), reference=_field("det"), baseline=baselines.majority_caption,
         baseline_on_reference=True, view="text",
         headlines=(Headline(key="colours", label="colours right", higher_is_better=True),
                    Headline(key="shapes", label="shapes right", higher_is_better=True),
                    Headline(key="counts", label="counts right", higher_is_better=True),
                    Headline(key="coverage", label="objects mentioned", higher_is_better=True))),
    Task(name="caption2rgb", title="caption → RGB", inputs=(CAPTION,), target=Ref("image_tokens", "rgb"),
         metric=lambda labeler: ClipScoreMetric(labeler, ks=(1,), pool=100), truth=_field("rgb"),
         reference=_field("caption"), baseline=baselines.mean_image, needs_labeler=True, view="rgb",
         plan={"preset": "quality", "num_steps": 8},
         headlines=(Headline(key="r@1", label="own caption R@1 (MiniCLIP)", higher_is_better=True),
                    Headline(key="clip_score", label="CLIP score", higher_is_better=True))),
    Task(name="boxes2rgb", title="caption + boxes → RGB", inputs=(CAPTION, DET), target=Ref("image_tokens", "rgb"),
         metric=lambda _: BoxPlacementMetric(), truth=_field("rgb"), reference=_field("det"),
         baseline=baselines.mean_image, view="rgb", plan={"preset": "quality", "num_steps": 8},
         headlines=(Headline(key="in_boxes", label="foreground inside the boxes", higher_is_better=True),)),
    _retrieval("retrieval_caption2rgb", "caption → RGB retrieval", CAPTION, RGB),
    _retrieval("retrieval_depth2rgb", "depth → RGB retrieval", _DEPTH, RGB),
    _retrieval("retrieval_semseg2rgb", "semseg → RGB retrieval", _SEMSEG, RGB),
    _retrieval("retrieval_rgb2caption", "RGB → caption retrieval", RGB, CAPTION),
)
#: Tasks by name, in table order.
TASKS: dict[str, Task] = {t.name: t for t in TASK_LIST}
#: Names that stand for several tasks in ``--tasks``.
GROUPS: dict[str, tuple[str, ...]] = {
    "all": tuple(TASKS),
    "rgb2x": ("depth", "normal", "semseg", "det", "caption"),
    "retrieval": tuple(n for n in TASKS if n.startswith("retrieval_")),
}


def select_tasks(names: str | Sequence[str] | None) -> list[Task]:
    """Tasks from a comma-separated string or a list of names / group names (None: all)."""
    if names is None:
        return list(TASK_LIST)
    items = [n.strip() for n in (names.split(",") if isinstance(names, str) else names) if n.strip()]
    chosen: list[str] = []
    for item in items:
        expanded = GROUPS.get(item, (item,))
        for n in expanded:
            if n not in TASKS:
                raise KeyError(f"unknown task {n!r}; known: {list(TASKS)} and groups {list(GROUPS)}")
            if n not in chosen:
                chosen.append(n)
    return [TASKS[n] for n in chosen]
