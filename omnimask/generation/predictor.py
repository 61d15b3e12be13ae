"""Running the model for generation: logits of a target's queries under one or several views.

A *view* is a variant of the generation state (the state itself, or the state with some conditions
emptied for guidance); all views of a step share shapes, so they can run as **one** batched forward
(views stacked along the batch axis). Two ways to run, with identical results up to float rounding:

* fast (default): views batched into one encoder + decoder pass; autoregressive decoding feeds one
  token per call against a KV cache (:class:`~omnimask.model.DecoderCache`).
* naive (``batch_views=False, kv_cache=False``): one pass per view, and every autoregressive
  token re-runs the decoder on the whole prefix — the released implementation's way, kept as the
  baseline of ``benchmarks/generation.py`` and for equivalence tests.

The encoder runs once per call of :meth:`ModelRunner.grid` and once per autoregressive target
(per view); the encoder cannot be reused across MaskGIT / ROAR iterations because every committed
token is a new encoder input that every other encoder position attends to.

Each of the three parts of a call — encoder, decoder blocks, output head — runs in the dtype that
:class:`~omnimask.precision.InferencePrecision` picks for its matmul shape (with ``auto`` on a CPU,
fp32 for the one-row calls of autoregressive decoding where bf16 is slower, bf16 for wide ones), and
under ``torch.inference_mode`` (no autograd bookkeeping at all: 8–10 % faster than ``no_grad`` for
autoregressive and ROAR decoding at d256, in-process A/B); what it returns are inference tensors.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from omnimask.batch import Batch
from omnimask.generation.state import split_rows, stack_views
from omnimask.model import DecoderCache, EncoderState, FourM, Queries
from omnimask.precision import InferencePrecision


class ModelRunner:
    """Evaluates a :class:`~omnimask.model.FourM` on views of a generation state.

    Args:
        model: the model (used in inference mode).
        batch_views: run all views of a step as one batched forward (else one forward per view).
        kv_cache: autoregressive decoding with a KV cache (else re-run the whole prefix per token).
        precision: ``fp32``, ``bf16`` or ``auto`` (per call: :class:`~omnimask.precision.InferencePrecision`).
    """

    def __init__(self, model: FourM, *, batch_views: bool = True, kv_cache: bool = True,
                 precision: str = "auto") -> None:
        self.model = model
        self.batch_views = batch_views
        self.kv_cache = kv_cache
        self.precision = InferencePrecision(model.mask_token.device, precision)

    def _groups(self, views: Sequence[Batch]) -> list[Batch]:
        return [stack_views(views)] if self.batch_views and len(views) > 1 else list(views)

    def _block_dtype(self, rows: int, cached: bool = False) -> torch.dtype:
        """The dtype of ``rows`` tokens through the transformer blocks (probed at the fused qkv's shape)."""
        dim = self.model.mask_token.shape[0]
        return self.precision.dtype(rows, dim, 3 * dim, cached)

    def encode(self, group: Batch) -> EncoderState:
        """:meth:`FourM.encode` of ``group`` in the dtype of its number of input tokens."""
        inputs = [mb.input_keep for m, mb in group.items() if m in self.model.encoder_embeddings]
        rows = int(sum(keep.sum() for keep in inputs)) if inputs else 0
        with self.precision.call(self._block_dtype(rows)):
            return self.model.encode(group)

    def decode(self, state: EncoderState, queries: Queries, cache: DecoderCache | None = None) -> torch.Tensor:
        """:meth:`FourM.decode`, blocks and output head each in the dtype of its shape (logits (B, M, V))."""
        rows, cached = queries.slots.numel(), cache is not None
        dtype = self._block_dtype(rows, cached)
        with self.precision.call(dtype):  # the residual stream stays fp32 under autocast: calls chain
            hidden = self.model.decode_hidden(state, queries, cache)
        vocab = self.model.specs[queries.modality].vocab_size
        with self.precision.call(self.precision.dtype(rows, hidden.shape[-1], vocab, cached)):
            return self.model.logits(queries.modality, hidden)

    @torch.inference_mode()
    def grid(self, views: Sequence[Batch], target: str, positions: torch.Tensor,
             keep: torch.Tensor) -> list[torch.Tensor]:
        """Logits (B, M, V) per view for the queries ``positions`` (B, M) of an image-like target.

        Queries attend to each other bidirectionally (``keep`` (B, M) marks real ones).
        """
        out: list[torch.Tensor] = []
        for group in self._groups(views):
            parts = next(iter(group.values())).batch_size // positions.shape[0]
            queries = Queries(target, positions.repeat(parts, 1), keep=keep.repeat(parts, 1))
            logits = self.decode(self.encode(group), queries)
            out.extend(split_rows(logits, parts))
        return out

    def sequence(self, views: Sequence[Batch], target: str) -> SequenceRun:
        """Start autoregressive decoding of sequence ``target`` under ``views`` (encoders run now)."""
        return SequenceRun(self, views, target)


class SequenceRun:
    """Left-to-right decoding of one sequence target; call :meth:`next` once per slot."""

    def __init__(self, runner: ModelRunner, views: Sequence[Batch], target: str) -> None:
        model = runner.model
        self.runner = runner
        self.target = target
        self.kv_cache = runner.kv_cache
        groups = runner._groups(views)
        with torch.inference_mode():
            self.states: list[EncoderState] = [runner.encode(g) for g in groups]
        self.parts = [next(iter(g.values())).batch_size for g in groups]
        self.caches: list[DecoderCache | None] = [model.new_cache() if self.kv_cache else None for _ in groups]
        self.prefix: list[torch.Tensor] = []

    @torch.inference_mode()
    def next(self, slot: int, token: torch.Tensor) -> list[torch.Tensor]:
        """Feed ``token`` (B, 1) at target slot ``slot``; logits (B, V) of the following token, per view."""
        self.prefix.append(token)
        b = token.shape[0]
        out: list[torch.Tensor] = []
        for state, cache, rows in zip(self.states, self.caches, self.parts):
            reps = rows // b
            if cache is not None:
                slots = torch.full((rows, 1), slot, dtype=torch.long, device=token.device)
                tokens = token.repeat(reps, 1)
            else:  # the release's way: the whole prefix again, causal mask, last position
                tokens = torch.cat(self.prefix, dim=1).repeat(reps, 1)
                slots = torch.arange(tokens.shape[1], device=token.device)[None].expand(rows, -1)
            logits = self.runner.decode(state, Queries(self.target, slots, tokens), cache)[:, -1]
            out.extend(split_rows(logits, reps))
        return out
