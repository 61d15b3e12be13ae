"""Guidance as a wrapper around the logits function: classifier-free and weighted multi-condition.

Every strategy asks a :class:`Logits` object for logits; guidance only changes which views of the
state that object evaluates and how it combines them (README §8.3):

* **classifier-free** (scale s, conditions D): the state itself (c) and one unconditional view (u)
  with every modality of D emptied (:func:`~omnimask.generation.state.emptied`);
  ``l = u + s·(c − u)``. Scale 1 (or no conditions) means no guidance and a single pass.
* **weighted multi-condition** (weights w_i, conditions D_i): one view per condition with the
  *other* listed conditions removed entirely (:func:`~omnimask.generation.state.without_inputs`),
  plus the unconditional view with all of them emptied; ``l = u + Σ_i w_i·(c_i − u)``, weights may be
  negative. Modalities that are not listed (the target, unlisted inputs) appear in every view.

Both work for image-like **and** sequence targets (the release refuses multi-condition guidance
for sequences). All views of a step run as one batched forward in the fast
:class:`~omnimask.generation.predictor.ModelRunner`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

import torch

from omnimask.batch import Batch
from omnimask.generation.predictor import ModelRunner, SequenceRun
from omnimask.generation.state import emptied, with_modality, without_inputs
from omnimask.modalities import ModalitySpec


@dataclasses.dataclass(frozen=True)
class Guidance:
    """How one iteration combines passes: ``l = u + Σ_i w_i·(c_i − u)``.

    Attributes:
        weights: the scale (classifier-free: one value) or one weight per condition (multi).
        conditions: classifier-free: the modalities emptied in the unconditional pass;
            multi: the condition of each weight, in order.
        multi: weighted multi-condition guidance (one conditional pass per condition).
    """

    weights: tuple[float, ...]
    conditions: tuple[str, ...]
    multi: bool = False

    def __post_init__(self) -> None:
        if self.multi and len(self.weights) != len(self.conditions):
            raise ValueError(
                f"multi-condition guidance needs one weight per condition: weights {list(self.weights)} "
                f"for conditions {list(self.conditions)}"
            )
        if not self.multi and len(self.weights) != 1:
            raise ValueError(f"classifier-free guidance takes one scale, got {list(self.weights)}")

    @classmethod
    def classifier_free(cls, scale: float, conditions: Sequence[str]) -> Guidance | None:
        """CFG with ``scale``, dropping ``conditions``; None when it would change nothing."""
        if float(scale) == 1.0 or not conditions:
            return None
        return cls((float(scale),), tuple(conditions))

    @classmethod
    def weighted(cls, weights: Sequence[float], conditions: Sequence[str]) -> Guidance:
        """Multi-condition guidance with one weight per condition (negative = steer away)."""
        return cls(tuple(float(w) for w in weights), tuple(conditions), multi=True)

    def views(self, state: Batch, specs: Mapping[str, ModalitySpec]) -> list[Batch]:
        """The views to evaluate: conditional one(s) first, the unconditional one last."""
        missing = [c for c in self.conditions if c not in state]
        if missing:
            raise ValueError(f"guidance conditions {missing} are not in the generation state ({list(state)})")
        uncond = state
        for c in self.conditions:
            uncond = with_modality(uncond, c, emptied(state[c], specs[c]))
        if not self.multi:
            return [state, uncond]
        views = []
        for keep in self.conditions:
            view = state
            for c in self.conditions:
                if c != keep:
                    view = with_modality(view, c, without_inputs(state[c]))
            views.append(view)
        return [*views, uncond]

    def combine(self, logits: Sequence[torch.Tensor]) -> torch.Tensor:
        """Guided logits from the views' logits (same order as :meth:`views`), in float32."""
        *conds, u = [x.float() for x in logits]
        if not self.multi:
            return u + (conds[0] - u) * self.weights[0]
        return u + torch.stack([w * (c - u) for w, c in zip(self.weights, conds)]).sum(dim=0)


class Logits:
    """The logits function the strategies call, optionally guided.

    Args:
        runner: evaluates the model on views.
        specs: modality specs (how to empty a condition).
        guidance: None for a single plain pass.
    """

    def __init__(self, runner: ModelRunner, specs: Mapping[str, ModalitySpec], guidance: Guidance | None) -> None:
        self.runner = runner
        self.specs = specs
        self.guidance = guidance

    def _views(self, state: Batch, target: str) -> list[Batch]:
        if self.guidance is None:
            return [state]
        if target in self.guidance.conditions:
            raise ValueError(f"the target {target!r} cannot also be a guidance condition")
        return self.guidance.views(state, self.specs)

    def _combine(self, logits: list[torch.Tensor]) -> torch.Tensor:
        logits = [view.float() for view in logits]  # bf16 autocast gives bf16 logits; sampling runs in fp32
        return logits[0] if self.guidance is None else self.guidance.combine(logits)

    def grid(self, state: Batch, target: str, positions: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """(Guided) logits (B, M, V) of an image-like target at ``positions`` (B, M)."""
        return self._combine(self.runner.grid(self._views(state, target), target, positions, keep))

    def sequence(self, state: Batch, target: str) -> GuidedSequence:
        """Start (guided) autoregressive decoding of a sequence target."""
        return GuidedSequence(self.runner.sequence(self._views(state, target), target), self._combine)


class GuidedSequence:
    """Autoregressive decoding whose per-token logits are combined across views."""

    def __init__(self, run: SequenceRun, combine: Callable[[list[torch.Tensor]], torch.Tensor]) -> None:
        self.run = run
        self.combine = combine

    def next(self, slot: int, token: torch.Tensor) -> torch.Tensor:
        """Feed ``token`` (B, 1) at ``slot``; (guided) logits (B, V) of the next token."""
        return self.combine(self.run.next(slot, token))
