"""What every demo figure gets and gives: the :class:`DemoContext` (model, seed, scenes) and a
:class:`Figure` record (picture, explanation, conditions, plan, seed, timing — or a note saying why
the model cannot make it).

Scenes are SynthWorld scenes of world ``seed`` from index :data:`SCENE_OFFSET` on, far past the
scenes any recipe trains or validates on, so every picture shows held-out scenes; they are
rendered at the model's resolution once and cached.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from PIL import Image

from omnimask.data.synthworld import SynthWorldConfig, render_sample
from omnimask.data.tokenize import sample_features
from omnimask.demo.model import DemoModel
from omnimask.demo.pictures import role_picture, text_picture

#: First SynthWorld scene index the demo shows (training uses 0 .. num_train + num_val - 1).
SCENE_OFFSET = 1_000_000
#: Roles whose ground truth is a feature network's output on the RGB image (MiniCLIP for SynthWorld).
FEATURE_ROLES: tuple[str, ...] = ("clip", "global")


@dataclasses.dataclass
class Figure:
    """One figure of the page.

    Attributes:
        slug: file stem of the PNG and anchor on the page (``1_rgb_to_all``).
        title: heading.
        explanation: how to read the figure.
        image: the picture (None when the figure was skipped).
        conditions: what the model was given.
        plan: the generation plan (see :func:`~omnimask.generation.plan.describe_plan`).
        seed: generation seed.
        facts: extra measured lines (a recall, a measured brightness).
        note: why the figure was skipped, or a remark.
        seconds: wall time of the whole figure (the runner sets it).
    """

    slug: str
    title: str
    explanation: str
    image: Image.Image | None = None
    conditions: str = ""
    plan: str = ""
    seed: int | None = None
    facts: list[str] = dataclasses.field(default_factory=list)
    note: str = ""
    seconds: float = 0.0

    @property
    def skipped(self) -> bool:
        return self.image is None


class DemoContext:
    """The model, the seed, how many scenes per figure, the cell size and the scene cache.

    Args:
        dm: the loaded model.
        seed: world seed of the scenes and seed of every generation.
        num: scenes (or captions) per figure.
        cell: side of one picture in the figures, in pixels.
    """

    def __init__(self, dm: DemoModel, seed: int = 0, num: int = 3, cell: int = 128) -> None:
        if num < 1:
            raise ValueError(f"num must be at least 1, got {num}")
        self.dm, self.seed, self.num, self.cell = dm, seed, num, cell
        self.world = SynthWorldConfig(resolution=dm.resolution)
        self._scenes: dict[int, dict] = {}
        self._labeler: Any = None

    def scene(self, i: int) -> dict:
        """Held-out scene ``i`` (0-based) of world ``seed``, every SynthWorld modality."""
        if i not in self._scenes:
            self._scenes[i] = render_sample(self.seed, SCENE_OFFSET + i, self.world)
        return self._scenes[i]

    def scenes(self, n: int, start: int = 0) -> list[dict]:
        return [self.scene(i) for i in range(start, start + n)]

    def find_scenes(self, keep: Callable[[dict], bool], n: int, limit: int = 200) -> list[dict]:
        """The first ``n`` held-out scenes for which ``keep`` holds (among the first ``limit``)."""
        found = []
        for i in range(limit):
            if keep(self.scene(i)):
                found.append(self.scene(i))
                if len(found) == n:
                    break
        return found

    def features(self, sample: dict) -> dict:
        """``sample`` with its MiniCLIP patch features (``clip``, (h, w, C)) and embedding (``global``, (E,)).

        The SynthWorld feature modalities are MiniCLIP's outputs on the RGB image, so their ground
        truth is computed here (once per scene) rather than rendered.
        """
        if "global" not in sample:
            if self._labeler is None:
                from omnimask.data.labelers.registry import load_labeler

                self._labeler = load_labeler("miniclip")
            features = sample_features([sample], self._labeler)
            sample["clip"], sample["global"] = features["clip"][0], features["clip_global"][0]
        return sample

    def truth(self, role: str, sample: dict) -> Image.Image:
        """Picture of the ground truth of ``role`` in a rendered ``sample`` (a note when it has none)."""
        key = "rgb" if role == "tok_rgb" else role
        if key in FEATURE_ROLES:
            sample = self.features(sample)
        if key not in sample:
            return text_picture(f"({role}: no ground truth rendered)", self.cell)
        return role_picture(role, sample[key], self.cell, base=sample["rgb"])

    def skip(self, slug: str, title: str, explanation: str, missing: Sequence[str]) -> Figure:
        """A figure this model cannot make: a labelled note naming what it lacks."""
        have = ", ".join(f"{r} ({n})" for r, n in self.dm.roles.items())
        note = (f"Skipped: this model lacks {', '.join(missing)} (as an input with a tokenizer, or as an output). "
                f"It has: {have}.")
        return Figure(slug, title, explanation, note=note)


def scene_label(sample: dict[str, Any]) -> str:
    """``scene 1000003`` — how rows name the scene they show."""
    return f"scene {sample['index']}"
