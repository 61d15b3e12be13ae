"""Per-kind input and output adapters of the 4M model (the released "encoder/decoder embeddings").

Encoder adapters turn the kept positions of one modality into token vectors ``x`` and position
embeddings; the model adds the shared modality embedding. Decoder adapters say which positions of
a modality are targets (:class:`TargetSelection`), build the decoder's input vectors for given
slots, and hold the output head. Dispatch is by :attr:`ModalitySpec.kind` through
:data:`ENCODER_ADAPTERS` / :data:`DECODER_ADAPTERS`.

=====================  =========================================  ====================================
kind                   encoder                                    decoder
=====================  =========================================  ====================================
``image_tokens``       token_emb[id] + 2-D sin-cos[j]             mask_token + 2-D sin-cos[j]
``pixels``             proj(patch (py, px, c)) + 2-D sin-cos[j]   —
``sequence``           token_emb[id] + 1-D sin-cos[rank]          token_emb[prev] + 1-D sin-cos[slot]
``global_tokens``      token_emb[id] + learned pos[j]             mask_token + learned pos[j]
``embedding_sequence`` emb_proj(vector) + 1-D sin-cos[rank]       —
=====================  =========================================  ====================================

Sequence positions are re-indexed over the kept tokens: an encoder input uses its rank among the
row's inputs; a decoder position t uses its rank among the row's target slots, and ranks at or
beyond ``max_length`` use row 0 (as the released model does). Sin-cos tables are non-persistent
buffers (recomputed, never stored); sequence tables have 512 rows like the released ones.
"""

from __future__ import annotations

import dataclasses

import torch
from einops import rearrange
from torch import nn

from omnimask.batch import ModalityBatch
from omnimask.modalities import SEQUENCE_POS_TABLE_LEN, ModalitySpec
from omnimask.nn.posemb import sincos_1d, sincos_2d


def _grid_table(spec: ModalitySpec, dim: int) -> torch.Tensor:
    assert spec.grid is not None
    return sincos_2d(spec.grid[0], spec.grid[1], dim)


def _sequence_table(spec: ModalitySpec, dim: int) -> torch.Tensor:
    return sincos_1d(max(SEQUENCE_POS_TABLE_LEN, spec.num_tokens), dim)


def _ranks(keep: torch.Tensor) -> torch.Tensor:
    """(B, L) bool -> (B, L) long: index of each kept position among the kept ones of its row."""
    return keep.long().cumsum(dim=1) - 1


# ---------------------------------------------------------------------------------------------
# Encoder side
# ---------------------------------------------------------------------------------------------
class EncoderAdapter(nn.Module):
    """Base: ``embed(mb, b, j)`` -> token vectors and position embeddings (n, D) for positions (b, j)."""

    pos_emb: torch.Tensor

    def __init__(self, spec: ModalitySpec, dim: int) -> None:
        super().__init__()
        self.spec = spec
        self.dim = dim

    def embed(self, mb: ModalityBatch, b: torch.Tensor, j: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError


class ImageTokenEncoder(EncoderAdapter):
    """Discrete token grid: token embedding + fixed 2-D sin-cos position."""

    def __init__(self, spec: ModalitySpec, dim: int) -> None:
        super().__init__(spec, dim)
        self.token_emb = nn.Embedding(spec.vocab_size, dim)
        self.register_buffer("pos_emb", _grid_table(spec, dim), persistent=False)

    def embed(self, mb: ModalityBatch, b: torch.Tensor, j: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.token_emb(mb.tensor[b, j]), self.pos_emb[j]


class GlobalTokenEncoder(EncoderAdapter):
    """A fixed number of discrete tokens with learned positions (e.g. ``tok_dinov2_global``)."""

    def __init__(self, spec: ModalitySpec, dim: int) -> None:
        super().__init__(spec, dim)
        self.token_emb = nn.Embedding(spec.vocab_size, dim)
        self.pos_emb = nn.Parameter(torch.zeros(spec.num_tokens, dim))

    def embed(self, mb: ModalityBatch, b: torch.Tensor, j: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.token_emb(mb.tensor[b, j]), self.pos_emb[j]


class PixelEncoder(EncoderAdapter):
    """Raw image patches: linear projection of (py, px, c)-ordered patch features, no bias."""

    def __init__(self, spec: ModalitySpec, dim: int) -> None:
        super().__init__(spec, dim)
        assert spec.patch_size is not None
        self.proj = nn.Linear(spec.channels * spec.patch_size**2, dim, bias=False)
        self.register_buffer("pos_emb", _grid_table(spec, dim), persistent=False)

    def embed(self, mb: ModalityBatch, b: torch.Tensor, j: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p = self.spec.patch_size
        # (B, C, H, W) -> (B, h*w, p*p*C), features channel-fastest like the released model.
        patches = rearrange(mb.tensor, "b c (h py) (w px) -> b (h w) (py px c)", py=p, px=p)
        return self.proj(patches[b, j].to(self.proj.weight.dtype)), self.pos_emb[j]


class SequenceEncoder(EncoderAdapter):
    """Text-serialised ids: token embedding + 1-D sin-cos at the rank among the row's inputs."""

    def __init__(self, spec: ModalitySpec, dim: int) -> None:
        super().__init__(spec, dim)
        self.token_emb = nn.Embedding(spec.vocab_size, dim)
        self.register_buffer("pos_emb", _sequence_table(spec, dim), persistent=False)

    def embed(self, mb: ModalityBatch, b: torch.Tensor, j: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.token_emb(mb.tensor[b, j]), self.pos_emb[_ranks(mb.input_keep)[b, j]]


class EmbeddingSequenceEncoder(EncoderAdapter):
    """Continuous vectors (B, N, C) (e.g. T5 caption embeddings): ``emb_proj`` + 1-D sin-cos by rank."""

    def __init__(self, spec: ModalitySpec, dim: int) -> None:
        super().__init__(spec, dim)
        self.emb_proj = nn.Linear(spec.input_dim, dim)
        self.register_buffer("pos_emb", _sequence_table(spec, dim), persistent=False)

    def embed(self, mb: ModalityBatch, b: torch.Tensor, j: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.emb_proj(mb.tensor[b, j].to(self.emb_proj.weight.dtype))
        return x, self.pos_emb[_ranks(mb.input_keep)[b, j]]


# ---------------------------------------------------------------------------------------------
# Decoder side
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class TargetSelection:
    """The decoder positions of one modality in a batch, batch-major then ascending position (n,).

    ``position`` is the index in the modality tensor (sequence: the input position t, whose target
    is ``tensor[t + 1]``); ``slot`` selects the position embedding (image: grid index; sequence:
    rank among the row's target slots); ``prev`` is the teacher-forced input id (sequences only).
    """

    batch_index: torch.Tensor
    position: torch.Tensor
    slot: torch.Tensor
    prev: torch.Tensor | None
    target: torch.Tensor


class DecoderAdapter(nn.Module):
    """Base of the output side: target selection, decoder input vectors, optional output head."""

    causal = False
    pos_emb: torch.Tensor

    def __init__(self, spec: ModalitySpec, dim: int, head: bool) -> None:
        super().__init__()
        self.spec = spec
        self.to_logits = nn.Linear(dim, spec.vocab_size, bias=False) if head else None

    def select(self, mb: ModalityBatch) -> TargetSelection:
        """Targets are the positions with ``target_keep``; the id to predict is the token there."""
        b, j = mb.target_keep.nonzero(as_tuple=True)
        return TargetSelection(b, j, j, None, mb.tensor[b, j].long())

    def embed(self, slot: torch.Tensor, prev: torch.Tensor | None, mask_token: torch.Tensor) -> torch.Tensor:
        """Decoder input vectors (..., D) for slots (...): the mask token plus the slot's position."""
        return mask_token + self.pos_emb[slot]


class ImageTokenDecoder(DecoderAdapter):
    """Predict a token grid; bidirectional among the modality's targets."""

    def __init__(self, spec: ModalitySpec, dim: int, head: bool) -> None:
        super().__init__(spec, dim, head)
        self.register_buffer("pos_emb", _grid_table(spec, dim), persistent=False)


class GlobalTokenDecoder(DecoderAdapter):
    """Predict global tokens with learned positions; bidirectional."""

    def __init__(self, spec: ModalitySpec, dim: int, head: bool) -> None:
        super().__init__(spec, dim, head)
        self.pos_emb = nn.Parameter(torch.zeros(spec.num_tokens, dim))


class SequenceDecoder(DecoderAdapter):
    """Predict a sequence by teacher forcing: position t reads ``tensor[t]`` and predicts ``tensor[t+1]``.

    A position takes part iff t and t + 1 are both target slots; attention is causal in slot order.
    """

    causal = True

    def __init__(self, spec: ModalitySpec, dim: int, head: bool) -> None:
        super().__init__(spec, dim, head)
        self.token_emb = nn.Embedding(spec.vocab_size, dim)
        self.register_buffer("pos_emb", _sequence_table(spec, dim), persistent=False)
        self.max_length = spec.decoder_length

    def select(self, mb: ModalityBatch) -> TargetSelection:
        keep = mb.target_keep
        b, t = (keep[:, :-1] & keep[:, 1:]).nonzero(as_tuple=True)
        ids = mb.tensor.long()
        return TargetSelection(b, t, _ranks(keep)[b, t], ids[b, t], ids[b, t + 1])

    def embed(self, slot: torch.Tensor, prev: torch.Tensor | None, mask_token: torch.Tensor) -> torch.Tensor:
        if prev is None:
            raise ValueError(f"{self.spec.name}: sequence queries need the previous token ids")
        row = torch.where(slot >= self.max_length, torch.zeros_like(slot), slot)  # released: ranks >= max -> 0
        return self.token_emb(prev) + self.pos_emb[row]


ENCODER_ADAPTERS: dict[str, type[EncoderAdapter]] = {
    "image_tokens": ImageTokenEncoder,
    "pixels": PixelEncoder,
    "sequence": SequenceEncoder,
    "global_tokens": GlobalTokenEncoder,
    "embedding_sequence": EmbeddingSequenceEncoder,
}

DECODER_ADAPTERS: dict[str, type[DecoderAdapter]] = {
    "image_tokens": ImageTokenDecoder,
    "sequence": SequenceDecoder,
    "global_tokens": GlobalTokenDecoder,
}
