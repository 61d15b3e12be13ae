"""Generation plans: which targets to generate, in which order, and how (4M's chained generation).

A :class:`Step` holds the settings of one target modality: decoding scheme (``maskgit``, ``roar``
or ``autoregressive``), number of iterations and token schedule, temperature and its schedule,
top-k / top-p, and guidance (a classifier-free scale with the conditions it drops, or one weight
per condition for weighted multi-condition guidance, with a scale schedule). A :class:`Plan` is
the ordered list of steps; each finished target is an input of the next ones (chaining).

:meth:`Plan.iterations` expands a plan into :class:`Iteration` objects — one model call each, the
flat schedule of the released ``build_chained_generation_schedules`` (README §8.1).
:func:`plan` builds a plan from conditions and targets with per-kind defaults (presets ``fast`` and
``quality``), optional per-target settings, and grows the guidance conditioning with finished
targets when asked. Reading and writing plans (YAML / JSON, released setting files) lives in
:mod:`omnimask.generation.plan_io`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from typing import Any

from omnimask.generation.guidance import Guidance
from omnimask.generation.schedules import guidance_schedule, temperature_schedule, token_schedule
from omnimask.generation.strategies import AUTOREGRESSIVE, STRATEGIES, Iteration, Scheme
from omnimask.modalities import ModalitySpec


@dataclasses.dataclass(frozen=True, kw_only=True)
class Step:
    """How to generate one target modality.

    Attributes:
        target: modality to generate.
        scheme: ``maskgit`` (sample every undecoded slot, commit the most confident), ``roar``
            (random order: query and commit a random subset) or ``autoregressive`` (sequences).
        num_steps: MaskGIT / ROAR iterations (1 = single-pass prediction); ignored for autoregressive.
        token_schedule: ``cosine``, ``linear`` or explicit tokens per iteration.
        temperature: sampling temperature (0 = argmax); the start value of a schedule.
        temperature_schedule: ``constant``, ``linear``, ``onex:<min>:<power>`` or explicit values.
        top_k, top_p: sampling filters (0 = off; see :func:`~omnimask.generation.sampling.top_k_top_p_filter`).
        guidance_scale: classifier-free scale (1 = none), or a tuple of weights (one per entry of
            ``guidance_conditions``) for weighted multi-condition guidance.
        guidance_schedule: ``constant``, ``linear``, ``cosine`` or explicit scales per iteration.
        guidance_conditions: modalities the unconditional pass drops (classifier-free), or the
            condition of each weight (multi-condition).
        num_tokens: image-like: tokens the schedule spreads (default: those still undecoded);
            sequence: slots of an empty placeholder including its input position 0 (default: the
            modality's ``num_tokens``).
    """

    target: str
    scheme: Scheme = "maskgit"
    num_steps: int = 8
    token_schedule: str | tuple[int, ...] = "cosine"
    temperature: float = 1.0
    temperature_schedule: str | tuple[float, ...] = "constant"
    top_k: float = 0.0
    top_p: float = 0.0
    guidance_scale: float | tuple[float, ...] = 1.0
    guidance_schedule: str | tuple[float, ...] = "constant"
    guidance_conditions: tuple[str, ...] = ()
    num_tokens: int | None = None

    def __post_init__(self) -> None:
        for name in ("token_schedule", "temperature_schedule", "guidance_schedule", "guidance_conditions"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
        if isinstance(self.guidance_scale, (list, tuple)):
            object.__setattr__(self, "guidance_scale", tuple(float(w) for w in self.guidance_scale))
            if len(self.guidance_scale) != len(self.guidance_conditions):
                raise ValueError(
                    f"{self.target}: {len(self.guidance_scale)} guidance weights for "
                    f"{len(self.guidance_conditions)} guidance conditions {list(self.guidance_conditions)}"
                )
        if self.scheme not in STRATEGIES:
            raise ValueError(f"{self.target}: unknown scheme {self.scheme!r}; use one of {tuple(STRATEGIES)}")
        if self.num_steps < 1:
            raise ValueError(f"{self.target}: num_steps must be >= 1, got {self.num_steps}")
        if self.top_p < 0 or self.top_p > 1 or self.top_k < 0:
            raise ValueError(f"{self.target}: top_k must be >= 0 and top_p in [0, 1]")
        if self.target in self.guidance_conditions:
            raise ValueError(f"{self.target}: a target cannot be one of its own guidance conditions")

    def replace(self, **changes: Any) -> Step:
        """A copy with some settings changed."""
        return dataclasses.replace(self, **changes)

    def _guidance(self, scale: float | tuple[float, ...]) -> Guidance | None:
        if isinstance(scale, tuple):
            return Guidance.weighted(scale, self.guidance_conditions)
        return Guidance.classifier_free(scale, self.guidance_conditions)

    def iterations(self, total: int, start: int = 0, step: int = 0) -> list[Iteration]:
        """Expand into iterations for ``total`` tokens to decode (image-like; ignored for sequences)."""
        iteration = functools.partial(
            Iteration, step=step, target=self.target, scheme=self.scheme, top_k=self.top_k, top_p=self.top_p
        )
        if self.scheme == AUTOREGRESSIVE:
            temperature = temperature_schedule(self.temperature_schedule, self.temperature, [1])[0]
            scale = guidance_schedule(self.guidance_schedule, self.guidance_scale, 1)[0]
            return [iteration(index=start, num_select=None, last=True, temperature=temperature,
                              guidance=self._guidance(scale))]
        counts = token_schedule(self.token_schedule, self.num_steps, self.num_tokens or total)
        temps = temperature_schedule(self.temperature_schedule, self.temperature, counts)
        scales = guidance_schedule(self.guidance_schedule, self.guidance_scale, len(counts))
        return [
            iteration(index=start + i, num_select=k, last=i == len(counts) - 1, temperature=t,
                      guidance=self._guidance(s))
            for i, (k, t, s) in enumerate(zip(counts, temps, scales))
        ]


@dataclasses.dataclass(frozen=True)
class Plan:
    """Ordered generation steps (one per target); earlier targets condition later ones.

    Attributes:
        steps: the :class:`Step` of each target, in generation order.
        conditions: the modalities the plan expects to be given (informational; the sampler uses
            whatever conditions it receives).
        name: a label (file name, preset name).
    """

    steps: tuple[Step, ...]
    conditions: tuple[str, ...] = ()
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(self.steps))
        object.__setattr__(self, "conditions", tuple(self.conditions))
        targets = [s.target for s in self.steps]
        if len(set(targets)) != len(targets):
            raise ValueError(f"a plan generates each target once; got {targets}")
        clash = sorted(set(targets) & set(self.conditions))
        if clash:
            raise ValueError(f"{clash} are both conditions and targets of the plan")

    @property
    def targets(self) -> list[str]:
        return [s.target for s in self.steps]

    def iterations(self, totals: Mapping[str, int] | None = None) -> list[Iteration]:
        """Every model call of the plan; ``totals`` gives the tokens to decode per image-like target
        (those without an entry and without ``num_tokens`` are an error)."""
        out: list[Iteration] = []
        for i, step in enumerate(self.steps):
            total = (totals or {}).get(step.target, step.num_tokens)
            if total is None and step.scheme != AUTOREGRESSIVE:
                raise ValueError(f"{step.target}: how many tokens to decode? set Step.num_tokens or pass totals")
            out.extend(step.iterations(int(total or 0), start=len(out), step=i))
        return out


#: Per-kind default settings of the presets (values of :class:`Step` fields).
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    # One pass per image-like target, greedy text: the cheapest plan.
    "fast": {
        "image_tokens": {"scheme": "roar", "num_steps": 1, "token_schedule": "linear", "temperature": 0.0},
        "global_tokens": {"scheme": "roar", "num_steps": 1, "token_schedule": "linear", "temperature": 0.0},
        "sequence": {"scheme": "autoregressive", "temperature": 0.0},
    },
    # The released demo's defaults when no pixel image is given (X→RGB-like).
    "quality": {
        "image_tokens": {"scheme": "roar", "num_steps": 25, "token_schedule": "linear", "temperature": 3.0,
                         "temperature_schedule": "onex:0.5:0.5", "guidance_scale": 2.0},
        "global_tokens": {"scheme": "roar", "num_steps": 8, "token_schedule": "linear", "temperature": 0.01,
                          "guidance_scale": 2.0},
        "sequence": {"scheme": "autoregressive", "temperature": 0.3},
    },
    # The released demo's defaults when a pixel image is among the conditions (RGB→X).
    "quality+pixels": {
        "image_tokens": {"scheme": "roar", "num_steps": 1, "token_schedule": "linear", "temperature": 0.01,
                         "guidance_scale": 2.0},
        "global_tokens": {"scheme": "roar", "num_steps": 1, "token_schedule": "linear", "temperature": 0.01,
                          "guidance_scale": 2.0},
        "sequence": {"scheme": "autoregressive", "temperature": 0.3},
    },
}
#: Whether a preset grows the guidance conditioning with finished targets by default.
PRESET_GROW = {"fast": False, "quality": True, "quality+pixels": True}


def plan(
    conditions: Sequence[str],
    targets: Sequence[str],
    specs: Mapping[str, ModalitySpec],
    *,
    preset: str = "fast",
    grow_conditioning: bool | None = None,
    per_target: Mapping[str, Mapping[str, Any]] | None = None,
    name: str = "",
    **settings: Any,
) -> Plan:
    """Build a chained plan: ``targets`` generated in order from ``conditions``.

    Settings of each target, later ones winning: the preset's defaults for the target's kind
    (``quality`` switches to the released RGB→X defaults when a ``pixels`` modality is a
    condition), ``settings`` (any :class:`Step` field, for every target), ``per_target[target]``.
    Guidance conditions default to ``conditions``, plus every finished target when
    ``grow_conditioning`` (default: the preset's choice).

    Example: ``plan(["caption"], ["tok_rgb@224"], specs, preset="quality", guidance_scale=3.0,
    per_target={"tok_rgb@224": {"num_steps": 49}})``.
    """
    if preset not in ("fast", "quality"):
        raise ValueError(f"unknown preset {preset!r}; use 'fast' or 'quality'")
    unknown = [m for m in [*conditions, *targets] if m not in specs]
    if unknown:
        raise ValueError(f"unknown modalities {unknown}; the model knows {sorted(specs)}")
    table = PRESETS["quality+pixels" if preset == "quality" and any(specs[c].is_pixels for c in conditions)
                    else preset]
    grow = PRESET_GROW[preset] if grow_conditioning is None else grow_conditioning
    per_target = dict(per_target or {})
    stray = sorted(set(per_target) - set(targets))
    if stray:
        raise ValueError(f"per_target names {stray}, which are not targets {list(targets)}")
    steps: list[Step] = []
    guided = list(conditions)
    for target in targets:
        kind = specs[target].kind
        if kind not in table:
            raise ValueError(f"{target}: a {kind} modality cannot be generated")
        fields = {**table[kind], "guidance_conditions": tuple(guided), **settings, **per_target.get(target, {})}
        steps.append(Step(target=target, **fields))
        if grow:
            guided.append(target)
    return Plan(tuple(steps), tuple(conditions), name or preset)


def describe_plan(the_plan: Plan) -> str:
    """A one-line summary of a plan: each target with its scheme, steps, temperature and guidance."""
    parts = []
    for s in the_plan.steps:
        if s.scheme == AUTOREGRESSIVE:
            how = f"autoregressive, temperature {s.temperature:g}"
        else:
            how = f"{s.scheme} × {s.num_steps}, temperature {s.temperature:g}"
            if isinstance(s.temperature_schedule, str) and s.temperature_schedule != "constant":
                how += f" ({s.temperature_schedule} decay)"
        if isinstance(s.guidance_scale, tuple):
            weights = ", ".join(f"{c} {w:g}" for c, w in zip(s.guidance_conditions, s.guidance_scale))
            how += f", weighted guidance ({weights})"
        elif s.guidance_scale != 1.0 and s.guidance_conditions:
            how += f", CFG {s.guidance_scale:g}"
        parts.append(f"{s.target} ({how})")
    return " → ".join(parts)
