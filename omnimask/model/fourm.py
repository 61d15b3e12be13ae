"""FourM: the 4M multimodal masked encoder-decoder (training forward, encode / decode for generation).

Computation (reference-fixture README, section 5; masks True = keep):

1. Encoder tokens: every kept input position of every input modality (in batch order) becomes
   ``x + e`` with ``x`` its token vector and ``e = position + modality embedding``; rows are packed
   to the largest token count in the batch (:mod:`omnimask.model.packing`).
2. Encoder: pre-norm blocks over the packed tokens (padding masked as keys), then ``encoder_norm``.
3. Context: ``decoder_proj_context(encoder output) + e`` (the encoder-side embeddings again).
4. Decoder queries: image / global targets read ``mask_token + position + modality embedding``;
   sequence targets read the teacher-forced previous token (see :mod:`omnimask.model.embeddings`).
   Self-attention: bidirectional within an image modality, causal within a sequence modality,
   never across modalities. Cross-attention to the context. Then ``decoder_norm`` and a per-modality
   output head.
5. Loss: per-modality mean cross-entropy over all its targets in the batch, averaged over
   modalities (``loss_denominator``: ``with_targets`` or the reference's ``all_present``).

The modality embedding is one parameter per modality shared by encoder and decoder (``mod_emb``).

One deliberate difference from the reference: a sample with no encoder tokens gets exactly zero
cross-attention even when other samples of its batch have some (the reference then averages the
padding rows' values, so its result depends on the rest of the batch); for a whole batch without
encoder tokens both agree (zero), which is what classifier-free guidance relies on.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from omnimask.batch import Batch, batch_size
from omnimask.model.config import LossDenominator, ModelConfig
from omnimask.model.embeddings import DECODER_ADAPTERS, ENCODER_ADAPTERS, DecoderAdapter, EncoderAdapter
from omnimask.model.packing import pack
from omnimask.nn import DecoderBlock, DecoderLayerCache, EncoderBlock
from omnimask.nn.init import init_transformer_


@dataclasses.dataclass(frozen=True)
class EncoderState:
    """Reusable result of :meth:`FourM.encode` (B batch, N packed encoder tokens, D width).

    Attributes:
        hidden: (B, N, D) encoder output after ``encoder_norm``.
        embeddings: (B, N, D) position + modality embedding of each encoder token (0 at padding).
        context: (B, N, D) what the decoder attends to: ``decoder_proj_context(hidden) + embeddings``.
        keep: (B, N) bool, True at real tokens (N may be 0: an empty encoder gives zero cross-attention).
    """

    hidden: torch.Tensor
    embeddings: torch.Tensor
    context: torch.Tensor
    keep: torch.Tensor


@dataclasses.dataclass(frozen=True)
class Queries:
    """Decoder queries of one output modality for :meth:`FourM.decode` (B batch, M queries).

    Attributes:
        modality: output modality name.
        slots: (B, M) long — image / global: grid index j; sequence: target-slot rank s (the position
            row; ranks at or beyond ``max_length`` use row 0).
        tokens: (B, M) long — sequence only: the input token of each slot (the previous token).
        keep: (B, M) bool — valid queries (None: all). Padding queries see nothing and are not seen.
    """

    modality: str
    slots: torch.Tensor
    tokens: torch.Tensor | None = None
    keep: torch.Tensor | None = None


@dataclasses.dataclass
class DecoderCache:
    """Incremental decoding state for one :class:`EncoderState` (autoregressive generation).

    Holds every layer's self-attention keys/values and projected context; extended in place by
    :meth:`FourM.decode`. Start one per encoder state with :meth:`FourM.new_cache`.
    """

    layers: list[DecoderLayerCache]
    order: torch.Tensor | None = None  # (B, T) causal order of the cached keys
    keep: torch.Tensor | None = None  # (B, T) valid cached keys

    @property
    def length(self) -> int:
        return 0 if self.order is None else self.order.shape[1]


@dataclasses.dataclass(frozen=True)
class TargetOutputs:
    """One output modality's decoder positions in canonical order (batch-major, ascending position).

    ``position`` is the token index j (image) or the input position t predicting ``tensor[t+1]``
    (sequence); ``hidden`` (n, D) is the decoder output after ``decoder_norm``.
    """

    batch_index: torch.Tensor
    position: torch.Tensor
    target: torch.Tensor
    hidden: torch.Tensor


@dataclasses.dataclass(frozen=True)
class FourMOutput:
    """Result of :meth:`FourM.forward`.

    Attributes:
        loss: scalar total loss.
        loss_per_modality: output modality present in the batch -> scalar mean cross-entropy
            (0 for a modality without targets).
        logits: with ``return_logits``: modality -> (n, V) logits in canonical order, else None.
        targets: with ``return_logits``: modality -> :class:`TargetOutputs`, else None.
        metrics: evaluation metrics of this batch beside the loss (a task head's accuracy, mIoU …).
    """

    loss: torch.Tensor
    loss_per_modality: dict[str, torch.Tensor]
    logits: dict[str, torch.Tensor] | None = None
    targets: dict[str, TargetOutputs] | None = None
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)


def _drop_rates(last: float, depth: int) -> list[float]:
    """Stochastic-depth rate per block, rising linearly from 0 to ``last`` (plain Python, so the model
    can also be built on the meta device to count its parameters)."""
    return [last * i / max(1, depth - 1) for i in range(depth)]


class FourM(nn.Module):
    """The 4M model built from a :class:`ModelConfig` (parameter names follow the released ones)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        cfg = config.resolve()
        self.config = cfg
        self.specs = cfg.specs()
        inputs, outputs = cfg.input_names(), cfg.output_names()
        dim = cfg.dim
        assert dim is not None and cfg.encoder_depth is not None and cfg.decoder_depth is not None
        assert cfg.num_heads is not None
        heads, opts = cfg.num_heads, cfg.block
        self.tied = {m for m in outputs if cfg.tie_output and m in inputs and self.specs[m].is_discrete}
        self.mod_emb = nn.ParameterDict({m: nn.Parameter(torch.zeros(dim)) for m in self.specs})
        self.encoder_embeddings = nn.ModuleDict(
            {m: ENCODER_ADAPTERS[self.specs[m].kind](self.specs[m], dim) for m in inputs}
        )
        self.decoder_embeddings = nn.ModuleDict(
            {m: DECODER_ADAPTERS[self.specs[m].kind](self.specs[m], dim, m not in self.tied) for m in outputs}
        )
        self.mask_token = nn.Parameter(torch.zeros(dim))
        enc_rates = _drop_rates(cfg.drop_path, cfg.encoder_depth)
        dec_rates = _drop_rates(cfg.drop_path, cfg.decoder_depth)
        self.encoder = nn.ModuleList(EncoderBlock(dim, heads, opts, r) for r in enc_rates)
        self.encoder_norm = opts.norm(dim)
        self.decoder_proj_context = nn.Linear(dim, dim)
        self.decoder = nn.ModuleList(DecoderBlock(dim, heads, opts, r) for r in dec_rates)
        self.decoder_norm = opts.norm(dim)
        self.reset_parameters()

    # -- set-up -------------------------------------------------------------------------------
    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Initialise from ``config.init_seed``: Xavier-uniform linears (q, k, v separately), N(0, 0.02)
        embeddings, modality embeddings, mask token and learned positions; LayerNorms 1 / 0."""
        g = torch.Generator().manual_seed(self.config.init_seed)
        init_transformer_(self, g, fused_chunk=self.mask_token.shape[0])
        learned = [self.mask_token, *self.mod_emb.values()]
        learned += [
            a.pos_emb
            for a in [*self.encoder_embeddings.values(), *self.decoder_embeddings.values()]
            if isinstance(a.pos_emb, nn.Parameter)
        ]
        for p in learned:
            nn.init.normal_(p, std=0.02, generator=g)

    @property
    def input_modalities(self) -> list[str]:
        return list(self.encoder_embeddings)

    @property
    def output_modalities(self) -> list[str]:
        return list(self.decoder_embeddings)

    def _check_batch(self, batch: Batch, side: str) -> None:
        for m, mb in batch.items():
            if m not in self.specs:
                raise ValueError(
                    f"batch modality {m!r} is unknown to this model (inputs {self.input_modalities}, "
                    f"outputs {self.output_modalities}); drop it from the batch"
                )
            if side == "input" and m not in self.encoder_embeddings and bool(mb.input_keep.any()):
                raise ValueError(f"{m!r} is not an input modality of this model but has input_keep set")
            if side == "target" and m not in self.decoder_embeddings and bool(mb.target_keep.any()):
                raise ValueError(f"{m!r} is not an output modality of this model but has target_keep set")

    # -- encoder ------------------------------------------------------------------------------
    def encode(self, batch: Batch) -> EncoderState:
        """Run the encoder on every kept input token of ``batch`` (see :class:`EncoderState`)."""
        self._check_batch(batch, "input")
        size = batch_size(batch)
        rows, xs, es = [], [], []
        for m, mb in batch.items():
            if m not in self.encoder_embeddings:
                continue
            adapter: EncoderAdapter = self.encoder_embeddings[m]  # type: ignore[assignment]
            b, j = mb.input_keep.nonzero(as_tuple=True)
            x, pos = adapter.embed(mb, b, j)
            rows.append(b)
            xs.append(x)
            es.append(pos + self.mod_emb[m])
        dim = self.mask_token.shape[0]
        device = self.mask_token.device
        rows_t = torch.cat(rows) if rows else torch.zeros(0, dtype=torch.long, device=device)
        x_t = torch.cat(xs) if xs else self.mask_token.new_zeros(0, dim)
        e_t = torch.cat(es) if es else self.mask_token.new_zeros(0, dim)
        packing = pack(rows_t, size)
        emb = packing.scatter(e_t)  # (B, N, D)
        h = packing.scatter(x_t) + emb
        keep = packing.keep[:, None, :]  # (B, 1, N) key padding
        for block in self.encoder:
            h = block(h, keep)
        h = self.encoder_norm(h)
        context = self.decoder_proj_context(h) + emb
        return EncoderState(hidden=h, embeddings=emb, context=context, keep=packing.keep)

    # -- decoder ------------------------------------------------------------------------------
    def _run_decoder(self, x: torch.Tensor, self_keep: torch.Tensor | None, cross_keep: torch.Tensor | None,
                     context: torch.Tensor, cache: DecoderCache | None = None) -> torch.Tensor:
        """Decoder blocks + norm: x (B, M, D), context (B, N, D); keeps self (B, M, T), cross (B, 1, N), None = all."""
        for i, block in enumerate(self.decoder):
            x = block(x, context, self_keep, cross_keep, None if cache is None else cache.layers[i])
        return self.decoder_norm(x)

    def logits(self, modality: str, hidden: torch.Tensor) -> torch.Tensor:
        """Output head of ``modality``: hidden (..., D) -> logits (..., V)."""
        tied = modality in self.tied
        adapter = self.encoder_embeddings[modality] if tied else self.decoder_embeddings[modality]
        head = adapter.token_emb if tied else adapter.to_logits
        assert isinstance(head, (nn.Embedding, nn.Linear))  # the input token table, or an output linear
        return F.linear(hidden, head.weight)

    def new_cache(self) -> DecoderCache:
        """An empty :class:`DecoderCache` for incremental decoding against one encoder state."""
        return DecoderCache([DecoderLayerCache() for _ in self.decoder])

    def decode(self, state: EncoderState, queries: Queries, cache: DecoderCache | None = None) -> torch.Tensor:
        """Logits (B, M, V) for the queries of one output modality.

        Image / global queries attend to each other bidirectionally (all queries of a MaskGIT / ROAR
        step see each other); sequence queries causally in slot order. With ``cache`` the queries
        also see (and are appended to) everything decoded before with that cache, so autoregressive
        decoding can feed one new token per call.
        """
        return self.logits(queries.modality, self.decode_hidden(state, queries, cache))

    def decode_hidden(self, state: EncoderState, queries: Queries, cache: DecoderCache | None = None) -> torch.Tensor:
        """The decoder's output (B, M, D) before the output head: :meth:`decode` without :meth:`logits`."""
        adapter: DecoderAdapter = self.decoder_embeddings[queries.modality]  # type: ignore[assignment]
        slots = queries.slots
        keep = queries.keep if queries.keep is not None else torch.ones_like(slots, dtype=torch.bool)
        x = adapter.embed(slots, queries.tokens, self.mask_token) + self.mod_emb[queries.modality]
        order = slots if adapter.causal else torch.zeros_like(slots)
        key_order, key_keep = order, keep
        if cache is not None:
            if cache.order is not None and cache.keep is not None:
                key_order = torch.cat([cache.order, order], dim=1)
                key_keep = torch.cat([cache.keep, keep], dim=1)
            cache.order, cache.keep = key_order, key_keep
        self_keep = (key_order[:, None, :] <= order[:, :, None]) & key_keep[:, None, :]  # (B, M, T)
        # Masks that admit everything are dropped, so attention skips their work: one sample decoding
        # left to right, or attending to an unpadded encoder (a sync per call, fine at inference).
        cross_keep = None if bool(state.keep.all()) else state.keep[:, None, :]
        return self._run_decoder(x, None if bool(self_keep.all()) else self_keep, cross_keep, state.context, cache)

    # -- training forward ---------------------------------------------------------------------
    def forward(
        self, batch: Batch, *, return_logits: bool = False, loss_denominator: LossDenominator | None = None
    ) -> FourMOutput:
        """Teacher-forced forward pass and loss over the batch's targets.

        Args:
            batch: modality name -> :class:`~omnimask.batch.ModalityBatch` (True = keep).
            return_logits: also return per-modality logits and :class:`TargetOutputs`.
            loss_denominator: override ``config.loss_denominator`` for this call.
        """
        self._check_batch(batch, "target")
        state = self.encode(batch)
        names, selections, rows, xs, groups, orders = [], [], [], [], [], []
        for m, mb in batch.items():
            if m not in self.decoder_embeddings:
                continue
            adapter: DecoderAdapter = self.decoder_embeddings[m]  # type: ignore[assignment]
            sel = adapter.select(mb)
            names.append(m)
            selections.append(sel)
            rows.append(sel.batch_index)
            xs.append(adapter.embed(sel.slot, sel.prev, self.mask_token) + self.mod_emb[m])
            groups.append(torch.full_like(sel.slot, len(names) - 1))
            orders.append(sel.slot if adapter.causal else torch.zeros_like(sel.slot))
        if not names:
            raise ValueError(f"the batch has no output modality of this model ({self.output_modalities})")
        packing = pack(torch.cat(rows), batch_size(batch))
        group, order = packing.scatter(torch.cat(groups)), packing.scatter(torch.cat(orders))  # (B, M)
        self_keep = (
            (group[:, None, :] == group[:, :, None])
            & (order[:, None, :] <= order[:, :, None])
            & packing.keep[:, None, :]
        )  # (B, M, M)
        hidden = self._run_decoder(packing.scatter(torch.cat(xs)), self_keep, state.keep[:, None, :], state.context)
        flat = packing.gather(hidden).split([len(s.batch_index) for s in selections])

        losses: dict[str, torch.Tensor] = {}
        all_logits: dict[str, torch.Tensor] = {}
        for m, sel, h in zip(names, selections, flat):
            logits = self.logits(m, h)
            all_logits[m] = logits
            if len(sel.target):
                losses[m] = F.cross_entropy(logits.float(), sel.target)
            else:
                losses[m] = logits.float().sum() * 0.0  # no targets: 0, still in the graph
        denominator = loss_denominator or self.config.loss_denominator
        counted = names if denominator == "all_present" else [m for m, s in zip(names, selections) if len(s.target)]
        loss = torch.stack([losses[m] for m in counted]).mean() if counted else hidden.sum() * 0.0
        if not return_logits:
            return FourMOutput(loss, losses)
        targets = {m: TargetOutputs(s.batch_index, s.position, s.target, h) for m, s, h in zip(names, selections, flat)}
        return FourMOutput(loss, losses, all_logits, targets)

    # -- checkpoints --------------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``model.safetensors`` + ``config.json`` into ``directory`` (atomic renames)."""
        from omnimask.model.checkpoint import save_pretrained

        return save_pretrained(self, directory)

    @classmethod
    def from_pretrained(cls, path: str | Path, map_location: str | torch.device = "cpu") -> FourM:
        """Load a model written by :meth:`save_pretrained` (a directory or its safetensors file)."""
        from omnimask.model.checkpoint import load_pretrained

        model = load_pretrained(path, map_location)
        if not isinstance(model, FourM):
            raise TypeError(f"{path} holds a {type(model).__name__}; load it with omnimask.load")
        return model
