"""Temperature / top-k / top-p sampling with explicit generators."""

from __future__ import annotations

import torch

from omnimask.generation.sampling import argmax_margin, sample, top_k_top_p_filter

LOGITS = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05], [0.05, 0.15, 0.3, 0.5]]))


def test_argmax_has_confidence_one():
    tokens, conf = sample(LOGITS, 0.0, None)
    assert tokens.tolist() == [0, 3]
    assert conf.dtype == torch.float32 and conf.tolist() == [1.0, 1.0]


def test_top_k_and_top_p_filters():
    inf = float("-inf")
    assert torch.isinf(top_k_top_p_filter(LOGITS, top_k=2)).tolist() == [[False, False, True, True],
                                                                         [True, True, False, False]]
    assert torch.isinf(top_k_top_p_filter(LOGITS, top_k=0.5)).sum().item() == 4  # a fraction of V
    # top-p 0.6: 0.5 alone is below, so 0.3 (the first token crossing) is kept too
    kept = top_k_top_p_filter(LOGITS, top_p=0.6)
    assert (kept[0] != inf).tolist() == [True, True, False, False]
    assert (top_k_top_p_filter(LOGITS, top_p=0.4)[1] != inf).tolist() == [False, False, False, True]
    assert torch.equal(top_k_top_p_filter(LOGITS), LOGITS)


def test_sampling_is_reproducible_and_respects_filters():
    logits = LOGITS.repeat(500, 1)
    a, pa = sample(logits, 1.0, torch.Generator().manual_seed(3), top_k=2)
    b, pb = sample(logits, 1.0, torch.Generator().manual_seed(3), top_k=2)
    c, _ = sample(logits, 1.0, torch.Generator().manual_seed(4), top_k=2)
    assert torch.equal(a, b) and torch.equal(pa, pb) and not torch.equal(a, c)
    assert set(a[0::2].tolist()) == {0, 1} and set(a[1::2].tolist()) == {2, 3}
    # renormalised over the top 2: P(token 0) = 0.5 / 0.8
    assert abs((a[0::2] == 0).float().mean().item() - 0.625) < 0.06
    assert torch.allclose(pa[0::2][a[0::2] == 0], torch.tensor(0.625))


def test_margin():
    assert torch.allclose(argmax_margin(LOGITS), torch.log(torch.tensor([0.5 / 0.3, 0.5 / 0.3])))
