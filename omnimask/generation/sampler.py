"""The sampler: run a :class:`~omnimask.generation.plan.Plan` on a model, from conditions to outputs.

``Sampler(model).generate(conditions, plan, seed)`` (conditions tokenized: raw values become tokens
in :class:`~omnimask.generation.pipeline.Pipeline`) sets up every target that the conditions do
not already hold (an empty target, README §8.2; a target given with some tokens kept is completed
around them — in-painting), then runs each plan iteration with its strategy and guidance, and
returns the final state with a record per iteration. :meth:`Sampler.iterate` yields the state
after every iteration (for animations and progress). Iteration i draws from a generator seeded
with ``seed + i`` (the release's reseeding), so a seed reproduces a generation exactly.

Compatibility switches (:class:`Quirks`, all off by default) reproduce defects of the released
implementation where its outputs differ from the correct behaviour (README §12):

* ``ar_target_keep_is_input_keep`` — after autoregressive generation the release marks every
  token of the merged sequence as a target too (its ``target_mask`` equals ``input_mask``).
* ``multi_guided_final_inputs_off`` — the release's multi-condition generation returns its
  unconditional dict, in which every target but the last has no inputs.

Known release defects that are *not* reproduced (they change no stored reference output): the
inverted masks its ``multi_guided_roar_step`` writes into condition dicts (we commit correctly),
its early return of a raw tensor when an autoregressive start token equals the stop token (we
return the merged sequence), and its merge of whatever a row generated after its own stop token
while other rows continue (we cut each row at its stop token; equal for B = 1).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

import torch

from omnimask.batch import Batch, ModalityBatch, batch_size, batch_to
from omnimask.generation.guidance import Logits
from omnimask.generation.plan import Iteration, Plan
from omnimask.generation.predictor import ModelRunner
from omnimask.generation.state import empty_target
from omnimask.generation.strategies import STRATEGIES, StepContext, StepRecord, schemes_for
from omnimask.model import FourM
from omnimask.progress import tqdm


@dataclasses.dataclass(frozen=True)
class Quirks:
    """Switches that reproduce the released implementation's defects (see the module docstring)."""

    ar_target_keep_is_input_keep: bool = False
    multi_guided_final_inputs_off: bool = False


@dataclasses.dataclass(frozen=True)
class GenerationStep:
    """One iteration as :meth:`Sampler.iterate` yields it: the state after it, and what it did."""

    iteration: Iteration
    state: Batch
    record: StepRecord


@dataclasses.dataclass(frozen=True)
class Generation:
    """A finished generation: the final state (conditions and targets) and every iteration's record."""

    state: Batch
    records: list[StepRecord]
    plan: Plan

    def tokens(self, modality: str) -> torch.Tensor:
        """The final tensor of ``modality`` (ids for generated targets)."""
        return self.state[modality].tensor


class Sampler:
    """Generates any modalities of a :class:`~omnimask.model.FourM` from any others.

    Args:
        model: the model (put into eval mode).
        fast: batched guidance passes and KV-cached autoregression (False: the release's way,
            one pass per view and the whole prefix per token — same tokens, slower).
        quirks: reference-compatibility switches.
        progress: show a progress bar over iterations.
        precision: ``fp32``, ``bf16`` (autocast) or ``auto`` (decided per forward call by its shape:
            :class:`omnimask.precision.InferencePrecision`).
        diagnostics: record candidate tokens and argmax margins in every :class:`StepRecord`.
    """

    def __init__(self, model: FourM, *, fast: bool = True, quirks: Quirks = Quirks(), progress: bool = False,
                 diagnostics: bool = False, precision: str = "auto") -> None:
        self.model = model.eval()
        self.runner = ModelRunner(model, batch_views=fast, kv_cache=fast, precision=precision)
        self.quirks = quirks
        self.progress = progress
        self.diagnostics = diagnostics

    @property
    def device(self) -> torch.device:
        return self.model.mask_token.device

    def prepare(self, conditions: Mapping[str, Any], plan: Plan) -> Batch:
        """The initial state: ``conditions`` plus an empty target for every plan target they lack.

        A condition is a :class:`~omnimask.batch.ModalityBatch` (raw values go through
        :class:`~omnimask.generation.pipeline.Pipeline` or :class:`~omnimask.generation.conditions.Conditioner`).
        """
        if not conditions:
            raise ValueError("generation needs at least one condition (or a partially given target)")
        specs = self.model.specs
        unknown = [m for m in conditions if m not in specs]
        if unknown:
            raise ValueError(f"conditions {unknown} are not modalities of this model ({sorted(specs)})")
        raw = [m for m, v in conditions.items() if not isinstance(v, ModalityBatch)]
        if raw:
            raise TypeError(f"conditions {raw} are raw values; tokenize them first (Pipeline.conditions or "
                            "Conditioner), the sampler takes ModalityBatch conditions")
        state = batch_to(dict(conditions), self.device)
        b = batch_size(state)
        for step in plan.steps:
            if step.target not in self.model.output_modalities:
                raise ValueError(f"{step.target!r} cannot be generated; outputs: {self.model.output_modalities}")
            spec = specs[step.target]
            if step.scheme not in schemes_for(spec):
                raise ValueError(f"{step.target}: scheme {step.scheme!r} does not fit a {spec.kind} target; "
                                 f"use one of {schemes_for(spec)}")
            if step.target not in state:
                state[step.target] = empty_target(specs[step.target], b, step.num_tokens, self.device)
        return state

    def _totals(self, state: Batch, plan: Plan) -> dict[str, int]:
        return {t: int(state[t].target_keep.sum(1).max()) for t in plan.targets}

    @torch.inference_mode()
    def iterate(self, conditions: Mapping[str, Any], plan: Plan, seed: int = 0) -> Iterator[GenerationStep]:
        """Yield the state after every iteration of ``plan`` (the last one is the result)."""
        state = self.prepare(conditions, plan)
        iterations = plan.iterations(self._totals(state, plan))
        bar = tqdm(iterations, disable=not self.progress, desc="generate", unit="step")
        for it in bar:
            bar.set_postfix_str(it.target)
            ctx = StepContext(
                specs=self.model.specs,
                generator=torch.Generator(device=self.device).manual_seed(seed + it.index),
                diagnostics=self.diagnostics,
                ar_target_keep_is_input_keep=self.quirks.ar_target_keep_is_input_keep,
            )
            logits = Logits(self.runner, self.model.specs, it.guidance)
            with self.runner.precision.step():
                result = STRATEGIES[it.scheme](logits, state, it, ctx)
            state = result.state
            if it is iterations[-1]:
                state = self._final(state, plan, iterations)
            yield GenerationStep(it, state, result.record)

    def _final(self, state: Batch, plan: Plan, iterations: list[Iteration]) -> Batch:
        if not self.quirks.multi_guided_final_inputs_off:
            return state
        if not any(it.guidance is not None and it.guidance.multi for it in iterations):
            return state
        out = dict(state)
        for target in plan.targets[:-1]:
            out[target] = out[target].replace(input_keep=torch.zeros_like(out[target].input_keep))
        return out

    def generate(self, conditions: Mapping[str, Any], plan: Plan, seed: int = 0) -> Generation:
        """Run the whole plan; see :class:`Generation`."""
        state, records = None, []
        for step in self.iterate(conditions, plan, seed):
            state = step.state
            records.append(step.record)
        if state is None:
            raise ValueError("the plan has no iterations")
        return Generation(state, records, plan)
