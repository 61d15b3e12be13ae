"""Attention: SDPA path against an explicit softmax, mask semantics, empty rows, caches, QK-norm."""

from __future__ import annotations

import pytest
import torch
from einops import rearrange

from omnimask.nn import CrossAttention, KVCache, SelfAttention, attend


def explicit_attention(q, k, v, keep=None):
    """Reference math: softmax(q k^T / sqrt(K)) v with masked keys removed."""
    scores = q @ k.transpose(-1, -2) * q.shape[-1] ** -0.5
    if keep is not None:
        scores = scores.masked_fill(~keep, float("-inf"))
    return scores.softmax(-1) @ v


def test_attend_matches_explicit_softmax_with_mask():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 5, 8, generator=g) for _ in range(3))
    keep = torch.rand(2, 1, 5, 5, generator=g) > 0.4
    keep[..., 0] = True  # every row has a key
    torch.testing.assert_close(attend(q, k, v, keep), explicit_attention(q, k, v, keep), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(attend(q, k, v), explicit_attention(q, k, v), atol=1e-6, rtol=1e-5)


def test_rows_without_keys_are_zero_and_gradients_finite():
    g = torch.Generator().manual_seed(1)
    q = torch.randn(1, 2, 4, 8, generator=g, requires_grad=True)
    k, v = torch.randn(1, 2, 6, 8, generator=g), torch.randn(1, 2, 6, 8, generator=g)
    keep = torch.ones(1, 1, 4, 6, dtype=torch.bool)
    keep[:, :, 2] = False  # query row 2 sees nothing
    out = attend(q, k, v, keep)
    assert torch.equal(out[:, :, 2], torch.zeros(1, 2, 8))
    torch.testing.assert_close(out[:, :, :2], explicit_attention(q, k, v)[:, :, :2])
    out.sum().backward()
    assert torch.isfinite(q.grad).all() and torch.equal(q.grad[:, :, 2], torch.zeros(1, 2, 8))


def test_bf16_on_cpu_matches_the_fused_kernel_and_keeps_empty_rows_zero():
    g = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(2, 3, 7, 16, generator=g).bfloat16().requires_grad_() for _ in range(3))
    keep = torch.rand(2, 1, 7, 7, generator=g) > 0.4
    keep[:, :, 3] = False  # a row without keys
    out = attend(q, k, v, keep)  # the written-out kernel (bf16 on a CPU)
    has_key = keep.any(-1, keepdim=True)
    fused = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=keep | ~has_key)
    torch.testing.assert_close(out, fused.masked_fill(~has_key, 0.0), atol=2e-2, rtol=2e-2)
    assert out.dtype == torch.bfloat16 and torch.equal(out[:, :, 3], torch.zeros_like(out[:, :, 3]))
    out.float().sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))


def test_bf16_inference_on_cpu_runs_the_fused_kernel_and_keeps_empty_rows_zero(monkeypatch):
    from omnimask.nn import attention

    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, 3, 7, 16, generator=g) for _ in range(3))
    keep = torch.rand(2, 1, 7, 7, generator=g) > 0.4
    keep[:, :, 3] = False  # a row without keys
    reference = attend(q, k, v, keep)  # fp32
    monkeypatch.setattr(attention, "explicit_attention", lambda *a, **kw: pytest.fail("written-out kernel used"))
    with torch.inference_mode():
        out = attend(q.bfloat16(), k.bfloat16(), v.bfloat16(), keep)
    assert out.dtype == torch.bfloat16 and torch.equal(out[:, :, 3], torch.zeros_like(out[:, :, 3]))
    torch.testing.assert_close(out.float(), reference, atol=3e-2, rtol=3e-2)


def test_zero_keys_give_zero_output():
    q = torch.randn(2, 1, 3, 8, requires_grad=True)
    empty = torch.zeros(2, 1, 0, 8)
    out = attend(q, empty, empty, torch.zeros(2, 1, 1, 0, dtype=torch.bool))
    assert out.shape == (2, 1, 3, 8) and torch.equal(out, torch.zeros_like(out))
    out.sum().backward()  # still part of the graph


def test_self_attention_layout_is_q_k_v_head_major():
    torch.manual_seed(0)
    attn = SelfAttention(16, 2, qkv_bias=True, proj_bias=True)
    x = torch.randn(2, 5, 16)
    w = attn.qkv.weight
    qkv = (x @ w.T + attn.qkv.bias).reshape(2, 5, 3, 2, 8).permute(2, 0, 3, 1, 4)
    ref = explicit_attention(qkv[0], qkv[1], qkv[2])
    expected = attn.proj(rearrange(ref, "b h n k -> b n (h k)"))
    torch.testing.assert_close(attn(x), expected, atol=1e-6, rtol=1e-5)


def test_cross_attention_layout_and_key_padding():
    torch.manual_seed(0)
    attn = CrossAttention(16, 4, qkv_bias=False, proj_bias=False)
    x, ctx = torch.randn(2, 3, 16), torch.randn(2, 6, 16)
    keep = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])[:, None, :]
    out = attn(x, ctx, keep)
    # Padding keys must not matter: truncating sample 1's context to its 4 real keys gives the same.
    torch.testing.assert_close(out[1:], attn(x[1:], ctx[1:, :4]), atol=1e-6, rtol=1e-5)
    q = rearrange(x @ attn.q.weight.T, "b n (h k) -> b h n k", h=4)
    k, v = rearrange(ctx @ attn.kv.weight.T, "b m (two h k) -> two b h m k", two=2, h=4)
    ref = attn.proj(rearrange(explicit_attention(q, k, v, keep[:, None]), "b h n k -> b n (h k)"))
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=1e-5)


def test_incremental_self_attention_with_cache_equals_causal_full_pass():
    torch.manual_seed(0)
    attn = SelfAttention(16, 2, qk_norm=True)
    x = torch.randn(2, 6, 16)
    causal = torch.ones(6, 6, dtype=torch.bool).tril()[None]
    full = attn(x, causal)
    cache = KVCache()
    steps = [attn(x[:, :2], causal[:, :2, :2], cache)]
    for t in range(2, 6):
        steps.append(attn(x[:, t : t + 1], causal[:, t : t + 1, : t + 1], cache))
    assert cache.length == 6
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-6, rtol=1e-5)


def test_kv_cache_returns_everything_appended_and_reallocates_only_when_doubling():
    cache = KVCache()
    assert cache.k is None and cache.v is None and cache.length == 0
    keys, values, capacities = [], [], []
    for n in (3, 1, 1, 1, 1, 1, 1, 1, 1, 5, 1):
        k, v = torch.randn(2, 4, n, 8), torch.randn(2, 4, n, 8)
        keys.append(k)
        values.append(v)
        got_k, got_v = cache.extend(k, v)
        capacities.append(cache.capacity)
        assert torch.equal(got_k, torch.cat(keys, 2)) and torch.equal(got_v, torch.cat(values, 2))
        assert torch.equal(cache.k, got_k) and torch.equal(cache.v, got_v)
    assert cache.length == 17
    assert capacities == [3, 6, 6, 6, 12, 12, 12, 12, 12, 24, 24]  # grows 3 times in 11 appends


def test_qk_norm_normalises_queries_and_keys_per_head():
    torch.manual_seed(0)
    attn = SelfAttention(16, 2, qk_norm=True, norm_bias=False)
    with torch.no_grad():
        attn.q_norm.weight.uniform_(0.5, 1.5)
        attn.k_norm.weight.uniform_(0.5, 1.5)
    x = torch.randn(1, 4, 16)
    q, k, v = rearrange(attn.qkv(x), "b n (three h k) -> three b h n k", three=3, h=2)
    ln = torch.nn.functional.layer_norm
    q = ln(q, (8,), attn.q_norm.weight, None, 1e-6)
    k = ln(k, (8,), attn.k_norm.weight, None, 1e-6)
    ref = attn.proj(rearrange(explicit_attention(q, k, v), "b h n k -> b n (h k)"))
    torch.testing.assert_close(attn(x), ref, atol=1e-6, rtol=1e-5)
    assert "q_norm.weight" in attn.state_dict() and "q_norm.bias" not in attn.state_dict()


def test_width_not_divisible_by_heads_is_rejected():
    with pytest.raises(ValueError, match="divisible by num_heads"):
        SelfAttention(10, 3)
