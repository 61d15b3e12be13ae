"""Turning logits into tokens: temperature, top-k, top-p, with an explicit generator.

Semantics follow the released 4M sampler (so a seed reproduces its draws on CPU): temperature 0
(|T| < 1e-10) is argmax and reports a confidence of exactly 1.0 for every token (MaskGIT then
breaks ties by ``torch.topk`` order); otherwise the logits are filtered (top-k: an int keeps that
many tokens, a float in (0, 1) keeps that fraction of the vocabulary; top-p keeps the smallest
set whose probability reaches p, always at least the best token), divided by T, softmaxed, and one
token is drawn per row with ``torch.multinomial``; its probability is the confidence.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange

#: Temperatures closer to 0 than this mean argmax.
ARGMAX_TEMPERATURE = 1e-10


def is_argmax(temperature: float) -> bool:
    """Whether ``temperature`` selects greedy (argmax) decoding."""
    return math.isclose(temperature, 0.0, abs_tol=ARGMAX_TEMPERATURE)


def top_k_top_p_filter(logits: torch.Tensor, top_k: float = 0.0, top_p: float = 0.0) -> torch.Tensor:
    """A copy of ``logits`` (R, V) with the tokens outside top-k / top-p set to -inf.

    ``top_k`` > 0: an int (or integral float >= 1) keeps that many tokens; a float in (0, 1) keeps
    ``int(top_k · V)``. ``top_p`` > 0 keeps the most probable tokens up to cumulative probability
    ``top_p`` plus the first token above it. 0 disables either filter.
    """
    out = logits.clone()
    vocab = out.shape[-1]
    if top_k > 0:
        k = int(top_k * vocab) if 0 < top_k < 1 else int(top_k)
        k = max(1, min(k, vocab))
        kth = torch.topk(out, k, dim=-1).values[..., -1:]
        out = out.masked_fill(out < kth, float("-inf"))
    if top_p > 0:
        sorted_logits, order = torch.sort(out, dim=-1, descending=True)
        cumulative = torch.cumsum(F.softmax(sorted_logits, dim=-1), dim=-1)
        drop = cumulative > top_p
        drop[..., 1:] = drop[..., :-1].clone()  # keep the first token that crosses the threshold
        drop[..., 0] = False
        out = out.masked_fill(drop.gather(-1, torch.argsort(order, dim=-1)), float("-inf"))
    return out


def sample(
    logits: torch.Tensor,
    temperature: float,
    generator: torch.Generator | None,
    top_k: float = 0.0,
    top_p: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw one token per position.

    Args:
        logits: (..., V) float logits.
        temperature: 0 = argmax; otherwise softmax temperature.
        generator: source of randomness (required unless argmax).
        top_k, top_p: filters, see :func:`top_k_top_p_filter`.

    Returns:
        tokens (...) int64 and their confidence (...) float32 (1.0 everywhere for argmax).
    """
    if is_argmax(temperature):
        tokens = logits.argmax(dim=-1)
        return tokens, torch.ones(tokens.shape, dtype=torch.float32, device=logits.device)
    if generator is None:
        raise ValueError("sampling with temperature > 0 needs a torch.Generator (pass a seed)")
    lead = logits.shape[:-1]
    flat = rearrange(logits, "... v -> (...) v")
    probs = F.softmax(top_k_top_p_filter(flat, top_k, top_p) / temperature, dim=-1)
    tokens = torch.multinomial(probs, 1, generator=generator)[:, 0]
    confidence = probs.gather(-1, tokens[:, None])[:, 0].float()
    return tokens.reshape(lead), confidence.reshape(lead)


def argmax_margin(logits: torch.Tensor) -> torch.Tensor:
    """(..., V) -> (...): top-1 minus top-2 logit (how firmly an argmax decision was taken)."""
    top = torch.topk(logits, 2, dim=-1).values
    return top[..., 0] - top[..., 1]
