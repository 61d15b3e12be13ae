"""The model a demo runs on: the inference :class:`~omnimask.generation.pipeline.Pipeline` of a
SynthWorld model folder, addressed by role, with timed generations and the demo's plans.

A *role* is what a modality means, whatever the model calls it (:func:`omnimask.modalities.modality_role`):
``rgb`` (the pixel input), ``tok_rgb`` (RGB as tokens, what 4M generates), the maps ``depth``,
``normal``, ``semseg``, ``edges`` (and any other map, e.g. ``clip`` feature maps, under its
tokenizer's name), the sequences ``caption``, ``det``, ``color_palette``, ``metadata``, and ``global``
(a global embedding such as ``tok_clip_global``, used for retrieval). A model at 128 px or with extra
modalities works unchanged.

The demo's plans are 4M's chained generation with cheap settings: image-like targets in one ROAR
pass (argmax) when they follow an image, RGB generated from scratch with a few ROAR steps, sampling
and classifier-free guidance, sequences decoded greedily (autoregressive with a KV cache).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omnimask.batch import Batch, ModalityBatch
from omnimask.generation import Generation, Plan
from omnimask.generation.pipeline import Pipeline
from omnimask.generation.render import Decoded
from omnimask.loading import is_model_folder
from omnimask.model import FourM

#: Sequence roles in the order a chained plan generates them.
SEQUENCE_ROLES: tuple[str, ...] = ("det", "caption", "color_palette", "metadata")
#: Map roles in the order a chained plan generates them (others follow, then ``global``).
MAP_ROLES: tuple[str, ...] = ("depth", "normal", "semseg", "edges")
#: Display names of roles in figures.
ROLE_TITLES: dict[str, str] = {"tok_rgb": "RGB", "rgb": "RGB", "det": "boxes", "color_palette": "palette",
                               "semseg": "semantic classes", "normal": "normals", "global": "global embedding"}
#: Settings of an RGB target generated without an image to copy from (ROAR with sampling and CFG).
RGB_FROM_SCRATCH: dict[str, Any] = {
    "scheme": "roar", "num_steps": 8, "token_schedule": "cosine", "temperature": 1.0,
    "temperature_schedule": "linear", "guidance_scale": 2.0,
}


@dataclasses.dataclass
class Timed:
    """A finished generation and how long it took."""

    generation: Generation
    seconds: float


class DemoModel:
    """A loaded model folder addressed by role: its pipeline, model, tokenizers and modality roles.

    Args:
        model: the 4M model.
        tokenizers: modality name -> tokenizer (:func:`omnimask.tokenizers.bundle.load_tokenizers`).
        path: where it was loaded from (shown on the page).
    """

    def __init__(self, model: FourM, tokenizers: Mapping[str, Any], path: str | Path = "") -> None:
        self.pipeline = Pipeline(model, tokenizers, path)
        self.model, self.tokenizers, self.path = self.pipeline.model, self.pipeline.tokenizers, self.pipeline.path
        self.specs, self.roles = self.pipeline.specs, self.pipeline.roles

    @classmethod
    def load(cls, path: str | Path) -> DemoModel:
        """Load ``path`` (a model folder with ``tokenizers/``)."""
        if not is_model_folder(path):
            raise FileNotFoundError(f"{path} is not a model folder (model.safetensors + config.json)")
        pipe = Pipeline.load(path)
        return cls(pipe.model, pipe.tokenizers, pipe.path)

    @property
    def resolution(self) -> int:
        """Side of the RGB input in pixels (64 when the model has no pixel input)."""
        spec = self.specs.get(self.roles.get("rgb", ""))
        return spec.image_size[0] if spec is not None and spec.image_size else 64

    def name(self, role: str) -> str:
        """The modality name of ``role``."""
        return self.roles[role]

    def title(self, role: str) -> str:
        """A column title: the role's display name and, when it differs, the modality name."""
        shown = ROLE_TITLES.get(role, role)
        return shown if shown == self.roles[role] else f"{shown} ({self.roles[role]})"

    def _usable(self, role: str, side: str) -> bool:
        name = self.roles.get(role)
        if name is None:
            return False
        return self.pipeline.can_read(name) if side == "input" else name in self.model.output_modalities

    def missing(self, inputs: Sequence[str] = (), outputs: Sequence[str] = ()) -> list[str]:
        """The roles this model cannot take as inputs (or has no tokenizer for) or cannot generate."""
        return [r for r in inputs if not self._usable(r, "input")] + [
            r for r in outputs if not self._usable(r, "output")
        ]

    def outputs(self, exclude: Sequence[str] = ()) -> list[str]:
        """Roles the model generates, in chained order: maps, other maps, sequences, ``global``."""
        have = [r for r in self.roles if self._usable(r, "output") and r not in exclude]
        known = ["tok_rgb", *MAP_ROLES, *SEQUENCE_ROLES, "global"]
        other = sorted(r for r in have if r not in known)
        order = ["tok_rgb", *MAP_ROLES, *other, *SEQUENCE_ROLES, "global"]
        return [r for r in order if r in have]

    # -----------------------------------------------------------------------------------------
    # Conditions
    # -----------------------------------------------------------------------------------------
    def condition(self, role: str, values: Sequence[Any]) -> ModalityBatch:
        """A fully given condition for B = ``len(values)`` raw values of one role.

        Values are what SynthWorld renders for the role: (H, W, 3) uint8 RGB, raw maps, a caption
        string, a box list, a metadata or palette dict. Sequences longer than the model holds are cut.
        """
        return self.pipeline.condition(self.roles[role], values, truncate=True)

    def conditions(self, raw: Mapping[str, Sequence[Any]]) -> Batch:
        """Role -> B raw values  →  a generation state keyed by modality name."""
        return {self.roles[r]: self.condition(r, v) for r, v in raw.items()}

    # -----------------------------------------------------------------------------------------
    # Plans and generation
    # -----------------------------------------------------------------------------------------
    def plan(self, given: Sequence[str], targets: Sequence[str], *, rgb: Mapping[str, Any] | None = None,
             per_target: Mapping[str, Mapping[str, Any]] | None = None) -> Plan:
        """A chained plan over roles: ``fast`` settings; ``tok_rgb`` with :data:`RGB_FROM_SCRATCH`
        (updated by ``rgb``) unless RGB pixels are given; ``per_target`` overrides by role."""
        settings = {self.roles[r]: dict(s) for r, s in (per_target or {}).items()}
        if "tok_rgb" in targets and "rgb" not in given:
            name = self.roles["tok_rgb"]
            settings[name] = {**RGB_FROM_SCRATCH, **(rgb or {}), **settings.get(name, {})}
        names = [self.roles[r] for r in given]
        return self.pipeline.plan(names, [self.roles[t] for t in targets], preset="fast", per_target=settings)

    def generate(self, conditions: Batch, the_plan: Plan, seed: int) -> Timed:
        """Run ``the_plan`` from ``conditions`` (seeded); the generation and its wall time."""
        start = time.perf_counter()
        generation = self.pipeline.generate(conditions, the_plan, seed=seed)
        return Timed(generation, time.perf_counter() - start)

    def decode(self, state: Batch, roles: Sequence[str], sample: int = 0) -> dict[str, Decoded]:
        """Role → raw form (:class:`~omnimask.generation.render.Decoded`) of one sample of a state."""
        names = [self.roles[r] for r in roles]
        decoded = self.pipeline.decode(state, names, sample=sample)
        return {r: decoded[n] for r, n in zip(roles, names)}
