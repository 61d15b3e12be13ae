"""Decoding strategies of 4M: MaskGIT, ROAR and left-to-right autoregression, one step signature.

Every strategy is a function ``(logits, state, iteration, context) -> StepResult``: it asks the
(possibly guided) :class:`~omnimask.generation.guidance.Logits` for logits of the target's queries,
samples, and commits tokens into a new state, where they are encoder inputs from the next
iteration on (README §8.3):

* **MaskGIT** — query every undecoded position (bidirectionally), sample each, commit the
  ``num_select`` most confident. At temperature 0 every confidence is exactly 1 and the choice is
  ``torch.topk``'s tie order on the confidence row, as in the release (which we therefore call the
  same way).
* **ROAR** (random-order autoregression) — draw a random order of the undecoded positions (one
  uniform draw per position shared by the batch, as the release does), query only the first
  ``num_select`` and commit all of them; one iteration = single-pass prediction.
* **autoregressive** — sequences: start from the first target slot's token, decode slot by slot
  (KV-cached in the fast runner) until every row produced its stop token (the last target slot's
  token: ``[S_2]`` of an empty target, ``[EOS]`` of a text placeholder) or the slots / ``max_tokens``
  run out, then merge the generated span into the sequence, which becomes a full input.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import torch

from omnimask.batch import Batch
from omnimask.generation.guidance import Guidance, Logits
from omnimask.generation.sampling import argmax_margin, sample
from omnimask.generation.state import commit, merge_generated, pending, with_modality
from omnimask.modalities import ModalitySpec

#: A decoding scheme: a key of :data:`STRATEGIES`.
Scheme = str


@dataclasses.dataclass(frozen=True)
class Iteration:
    """One model call of a plan.

    Attributes:
        index: position in the whole plan (iteration i draws its randomness from ``seed + i``).
        step: index of the :class:`Step` (target) it belongs to.
        target: the modality being generated.
        scheme: the decoding scheme (a key of :data:`STRATEGIES`).
        num_select: tokens to commit (None for autoregressive).
        last: last iteration of its target (it commits whatever is still undecoded).
        temperature, top_k, top_p: sampling settings.
        guidance: None, or how to combine guided passes.
    """

    index: int
    step: int
    target: str
    scheme: Scheme
    num_select: int | None
    last: bool
    temperature: float
    top_k: float
    top_p: float
    guidance: Guidance | None


@dataclasses.dataclass(frozen=True)
class StepContext:
    """What a strategy needs besides the state.

    Attributes:
        specs: modality specs of the model.
        generator: this iteration's source of randomness.
        diagnostics: also record every candidate's argmax and top-1 − top-2 margin.
        ar_target_keep_is_input_keep: reproduce the release's merged sequence masks (README §12).
    """

    specs: Mapping[str, ModalitySpec]
    generator: torch.Generator
    diagnostics: bool = False
    ar_target_keep_is_input_keep: bool = False


@dataclasses.dataclass(frozen=True)
class StepRecord:
    """What one iteration did (B rows).

    Attributes:
        iteration: the plan iteration.
        positions, tokens, valid: (B, k) committed positions (ascending), their tokens, and which
            entries are real (rows with fewer undecoded positions are padded). None for autoregressive.
        candidates, candidate_tokens, candidate_margins: with diagnostics — (B, M) every queried
            position, its sampled token and its top-1 − top-2 (guided) logit margin.
        generated, generated_margins: autoregressive — (B, T) generated tokens (start token
            excluded) and, with diagnostics, their margins.
    """

    iteration: Iteration
    positions: torch.Tensor | None = None
    tokens: torch.Tensor | None = None
    valid: torch.Tensor | None = None
    candidates: torch.Tensor | None = None
    candidate_tokens: torch.Tensor | None = None
    candidate_margins: torch.Tensor | None = None
    generated: torch.Tensor | None = None
    generated_margins: torch.Tensor | None = None


@dataclasses.dataclass(frozen=True)
class StepResult:
    """The state after an iteration and the record of what it committed."""

    state: Batch
    record: StepRecord


Strategy = Callable[[Logits, Batch, Iteration, StepContext], StepResult]


def _sorted(positions: torch.Tensor, *others: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Reorder (B, k) tensors by ascending position per row."""
    order = positions.argsort(dim=1)
    return (positions.gather(1, order), *(o.gather(1, order) for o in others))


def _commit_record(state: Batch, it: Iteration, ctx: StepContext, positions: torch.Tensor, tokens: torch.Tensor,
                   valid: torch.Tensor, logits: torch.Tensor | None, queried: torch.Tensor,
                   sampled: torch.Tensor) -> StepResult:
    new = with_modality(state, it.target, commit(state[it.target], positions, tokens, valid))
    pos, tok, ok = _sorted(positions, tokens, valid)
    extra = {}
    if ctx.diagnostics and logits is not None:
        extra = {"candidates": queried, "candidate_tokens": sampled, "candidate_margins": argmax_margin(logits.float())}
    return StepResult(new, StepRecord(it, pos, tok, ok, **extra))


def _nothing_left(state: Batch, it: Iteration) -> StepResult:
    empty = torch.zeros(state[it.target].batch_size, 0, dtype=torch.long)
    return StepResult(state, StepRecord(it, empty, empty, empty.bool()))


def maskgit_step(logits: Logits, state: Batch, it: Iteration, ctx: StepContext) -> StepResult:
    """Sample every undecoded position; commit the ``num_select`` most confident (all on the last iteration)."""
    positions, keep = pending(state[it.target])  # (B, M) ascending, like the release's query order
    if positions.shape[1] == 0:
        return _nothing_left(state, it)
    scores = logits.grid(state, it.target, positions, keep)  # (B, M, V)
    tokens, confidence = sample(scores, it.temperature, ctx.generator, it.top_k, it.top_p)
    confidence = confidence.masked_fill(~keep, float("-inf"))
    k = positions.shape[1] if it.last else min(int(it.num_select or 0), positions.shape[1])
    chosen = torch.topk(confidence, k, dim=-1).indices  # the release's tie order at temperature 0
    return _commit_record(state, it, ctx, positions.gather(1, chosen), tokens.gather(1, chosen),
                          keep.gather(1, chosen), scores, positions, tokens)


def roar_step(logits: Logits, state: Batch, it: Iteration, ctx: StepContext) -> StepResult:
    """Query a random ``num_select`` undecoded positions (all on the last iteration) and commit them all."""
    mb = state[it.target]
    remaining = int(mb.target_keep.sum(1).max())
    if remaining == 0:
        return _nothing_left(state, it)
    draw = torch.rand(mb.num_positions, generator=ctx.generator, device=ctx.generator.device)
    keys = (~mb.target_keep).float() + draw.to(mb.target_keep.device)[None] * 1e-6  # undecoded first, random order
    k = remaining if it.last else min(int(it.num_select or 0), remaining)
    positions = torch.argsort(keys, dim=1)[:, :k]  # (B, k)
    keep = mb.target_keep.gather(1, positions)
    scores = logits.grid(state, it.target, positions, keep)
    tokens, _ = sample(scores, it.temperature, ctx.generator, it.top_k, it.top_p)
    return _commit_record(state, it, ctx, positions, tokens, keep, scores, positions, tokens)


def autoregressive_step(logits: Logits, state: Batch, it: Iteration, ctx: StepContext) -> StepResult:
    """Decode a sequence target left to right, then merge it into a full input."""
    mb = state[it.target]
    spec = ctx.specs[it.target]
    slots = mb.target_keep
    counts = slots.sum(1)
    if int(counts.max()) == 0:
        return StepResult(state, StepRecord(it, generated=torch.zeros(mb.batch_size, 0, dtype=torch.long)))
    index = torch.arange(mb.num_positions, device=slots.device)[None]
    first = torch.where(slots, index, mb.num_positions).min(1).values.clamp(max=mb.num_positions - 1)
    last = torch.where(slots, index, -1).max(1).values.clamp(min=0)
    start = mb.tensor.gather(1, first[:, None]).long()  # (B, 1)
    stop = mb.tensor.gather(1, last[:, None])[:, 0].long()  # (B,)
    run = logits.sequence(state, it.target)
    out, margins = [start], []
    done = start[:, 0] == stop
    for slot in range(min(int(counts.max()), spec.num_tokens)):
        if bool(done.all()):
            break
        scores = run.next(slot, out[-1])  # (B, V)
        token, _ = sample(scores, it.temperature, ctx.generator, it.top_k, it.top_p)
        out.append(token[:, None])
        done = done | (token == stop)
        if ctx.diagnostics:
            margins.append(argmax_margin(scores.float()))
    generated = torch.cat(out, dim=1)
    merged = merge_generated(mb, generated, stop, target_keep_is_input_keep=ctx.ar_target_keep_is_input_keep)
    record = StepRecord(it, generated=generated[:, 1:],
                        generated_margins=torch.stack(margins, 1) if margins else None)
    return StepResult(with_modality(state, it.target, merged), record)


#: The scheme of sequence targets: slot by slot in one iteration, with no token schedule.
AUTOREGRESSIVE: Scheme = "autoregressive"
#: Scheme name -> strategy; the schemes other than :data:`AUTOREGRESSIVE` fill token grids.
STRATEGIES: dict[Scheme, Strategy] = {
    "maskgit": maskgit_step,
    "roar": roar_step,
    AUTOREGRESSIVE: autoregressive_step,
}


def schemes_for(spec: ModalitySpec) -> tuple[Scheme, ...]:
    """The schemes that can generate ``spec``: autoregression for sequences, the others for the rest."""
    return tuple(s for s in STRATEGIES if (s == AUTOREGRESSIVE) == spec.is_sequence)
