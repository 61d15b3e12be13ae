"""Quantizers: cosine-EMA VQ (lookup, EMA, dead codes, commitment), Memcodes, FSQ, usage metrics."""

import math

import pytest
import torch
import torch.nn.functional as F

from omnimask.config import from_dict, to_dict
from omnimask.tokenizers.quantizers import (
    FSQ,
    CosineEMAQuantizer,
    Memcodes,
    QuantizerConfig,
    build_quantizer,
    codebook_stats,
)


def test_cosine_lookup_uses_normalised_scores_but_returns_raw_rows():
    q = CosineEMAQuantizer(dim=2, codebook_size=2).eval()
    # code 0 is long but points away; code 1 is short and points along z.
    q.embed.copy_(torch.tensor([[10.0, 1.0], [0.1, 0.5]]))
    z = torch.tensor([[0.0], [1.0]]).reshape(1, 2, 1, 1)  # (B, D, h, w)
    out = q(z)
    assert out.ids.shape == (1, 1, 1) and out.ids.item() == 1
    assert torch.equal(out.quantized.flatten(), torch.tensor([0.1, 0.5]))
    assert torch.equal(q.lookup(out.ids), out.quantized)
    assert out.loss.item() == 0.0


def test_cosine_ema_moves_codes_toward_assigned_latents():
    q = CosineEMAQuantizer(dim=2, codebook_size=2, decay=0.5, dead_code_threshold=0.0).train()
    q.embed.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    z = torch.tensor([[3.0, 0.3], [0.0, 2.0]]).t().reshape(1, 2, 2, 1)  # two latents, near codes 0 and 1
    out = q(z)
    assert out.ids.flatten().tolist() == [0, 1]
    target0 = F.normalize(torch.tensor([3.0, 0.3]), dim=0)
    assert torch.allclose(q.embed[0], 0.5 * torch.tensor([1.0, 0.0]) + 0.5 * target0)
    assert torch.allclose(q.embed[1], torch.tensor([0.0, 1.0]))
    assert torch.allclose(q.cluster_size, torch.tensor([0.5, 0.5]))
    # commitment loss: mean squared distance between the (pre-update) code rows and the latents
    expected = ((torch.tensor([1.0, 0.0]) - torch.tensor([3.0, 0.3])) ** 2).sum() + 0.0 + 1.0
    assert math.isclose(out.loss.item(), expected.item() / 4, rel_tol=1e-6)


def test_cosine_straight_through_gives_encoder_gradient():
    q = CosineEMAQuantizer(dim=4, codebook_size=8).train()
    z = torch.randn(2, 4, 3, 3, requires_grad=True, generator=torch.Generator().manual_seed(0))
    out = q(z)
    (out.quantized.sum() + out.loss).backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


@pytest.mark.parametrize("policy", ["batch_random", "linde_buzo_gray"])
def test_dead_codes_get_replaced(policy):
    q = CosineEMAQuantizer(dim=3, codebook_size=16, dead_code_threshold=0.25, replacement=policy, seed=3).train()
    z = torch.tensor([1.0, 2.0, 3.0]).reshape(1, 3, 1, 1).repeat(1, 1, 4, 4)  # one direction only
    before = q.embed.clone()
    q(z)
    used = q.cluster_size >= 0.25
    assert used.sum() == 0  # a single step cannot lift any EMA size over the threshold
    changed = (q.embed - before).abs().sum(1) > 1e-6
    assert changed.all()
    if policy == "batch_random":  # dead codes become batch latents (all the same direction here)
        assert torch.allclose(q.embed, F.normalize(torch.tensor([1.0, 2.0, 3.0]), dim=0).expand(16, 3))


def test_dead_code_replacement_is_seeded():
    def run(seed):
        q = CosineEMAQuantizer(dim=4, codebook_size=32, seed=seed).train()
        q(torch.randn(2, 4, 4, 4, generator=torch.Generator().manual_seed(1)))
        return q.embed.clone()

    assert torch.equal(run(5), run(5))
    assert not torch.equal(run(5), run(6))


def test_data_init_takes_codes_from_first_batch():
    q = CosineEMAQuantizer(dim=3, codebook_size=4, data_init=True, dead_code_threshold=0.0).train()
    z = torch.randn(1, 3, 2, 2, generator=torch.Generator().manual_seed(0))
    q.initted.zero_()
    q(z)
    assert q.initted.item() == 1.0
    rows = F.normalize(z.flatten(2).transpose(1, 2).reshape(-1, 3), dim=-1)
    sims = F.normalize(q.embed, dim=-1) @ rows.t()
    assert torch.allclose(sims.max(dim=1).values, torch.ones(4), atol=1e-2)


def test_memcodes_eval_matches_attention_argmax_and_lookup():
    m = Memcodes(dim=8, codebook_size=5, num_codebooks=2, seed=0).eval()
    z = torch.randn(3, 8, 1, 1, generator=torch.Generator().manual_seed(1))
    out = m(z)
    assert out.ids.shape == (3, 2, 1, 1) and out.quantized.shape == (3, 8, 1, 1)
    keys, values = m.keys_values()
    for h in range(2):
        qh = z[:, 4 * h : 4 * h + 4, 0, 0] * 0.5
        ids = (qh @ keys[h].t()).argmax(-1)
        assert torch.equal(out.ids[:, h, 0, 0], ids)
        assert torch.allclose(out.quantized[:, 4 * h : 4 * h + 4, 0, 0], values[h][ids])
    assert torch.allclose(m.lookup(out.ids), out.quantized)
    flat = m.lookup(out.ids.flatten(1))  # the 4M pipeline's (B, n) layout decodes to (B, D)
    assert torch.allclose(flat, out.quantized[:, :, 0, 0])


def test_memcodes_training_is_one_hot_and_differentiable():
    m = Memcodes(dim=4, codebook_size=6, num_codebooks=1, seed=0).train()
    z = torch.randn(2, 4, 2, 2, requires_grad=True, generator=torch.Generator().manual_seed(2))
    out = m(z)
    assert out.ids.shape == (2, 2, 2)
    assert torch.allclose(out.quantized, m.lookup(out.ids), atol=1e-6)
    out.quantized.square().sum().backward()
    assert z.grad.abs().sum() > 0 and m.codes.grad.abs().sum() > 0


def test_fsq_round_trips_its_whole_grid():
    f = FSQ(levels=(8, 5, 3))
    assert f.codebook_size == 120 and f.dim == 3
    ids = torch.arange(120).reshape(1, 120)
    codes = f.lookup(ids)  # (1, 3, 120)
    assert codes.min() >= -1 and codes.max() <= 1
    assert torch.equal(f.codes_to_ids(codes.movedim(1, -1)), ids)
    assert len({tuple(c) for c in codes[0].t().tolist()}) == 120


def test_fsq_quantizes_to_nearest_level_and_is_straight_through():
    f = FSQ(levels=(5, 4))
    z = torch.randn(2, 2, 3, 3, requires_grad=True, generator=torch.Generator().manual_seed(0))
    out = f(z)
    assert torch.equal(f.lookup(out.ids), out.quantized.detach())
    out.quantized.sum().backward()
    assert z.grad.abs().sum() > 0
    big = f(torch.tensor([[[[50.0]], [[-50.0]]]]))  # saturates at the outermost levels
    assert big.quantized.flatten().tolist() == [1.0, -1.0]


def test_codebook_stats_usage_and_perplexity():
    s = codebook_stats(torch.tensor([[0, 1], [2, 3]]), 8)
    assert s.usage == 0.5 and math.isclose(s.perplexity, 4.0)
    s1 = codebook_stats(torch.zeros(10, dtype=torch.long), 8)
    assert s1.usage == 1 / 8 and math.isclose(s1.perplexity, 1.0)
    assert s.merge(s1).counts.tolist() == [11, 1, 1, 1, 0, 0, 0, 0]
    with pytest.raises(ValueError, match=r"\[0, 8\)"):
        codebook_stats(torch.tensor([8]), 8)


def test_lookup_rejects_bad_ids_and_inputs():
    q = CosineEMAQuantizer(dim=4, codebook_size=8)
    with pytest.raises(ValueError, match=r"\[0, 8\)"):
        q.lookup(torch.tensor([[8]]))
    with pytest.raises(TypeError, match="integer"):
        q.lookup(torch.tensor([[1.0]]))
    with pytest.raises(ValueError, match=r"\(B, 4, \.\.\.\)"):
        q(torch.randn(1, 3, 2, 2))


def test_build_from_config_round_trip():
    cfg = QuantizerConfig(kind="fsq", fsq_levels=(8, 5, 5, 5))
    assert from_dict(QuantizerConfig, to_dict(cfg)) == cfg
    assert cfg.vocab_size == 1000
    assert isinstance(build_quantizer(cfg, 4), FSQ)
    assert isinstance(build_quantizer(QuantizerConfig(kind="memcodes", num_codebooks=2), 8), Memcodes)
    with pytest.raises(ValueError, match="len\\(fsq_levels\\)"):
        build_quantizer(cfg, 5)
