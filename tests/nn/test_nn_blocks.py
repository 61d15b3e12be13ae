"""MLPs, LayerNorm, drop-path and the pre-norm encoder / decoder blocks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from omnimask.nn import (
    BlockOptions,
    DecoderBlock,
    DecoderLayerCache,
    DropPath,
    EncoderBlock,
    GatedMlp,
    LayerNorm,
    Mlp,
    build_mlp,
    mlp_hidden_dim,
)

RELEASE = BlockOptions(gated_mlp=True, act="SiLU", qkv_bias=False, proj_bias=False, mlp_bias=False, norm_bias=False)


def test_mlp_hidden_sizes_follow_4m():
    assert mlp_hidden_dim(64, 4.0, gated=True) == 170
    assert mlp_hidden_dim(768, 4.0, gated=True) == 2048
    assert mlp_hidden_dim(768, 4.0, gated=False) == 3072
    assert build_mlp(64, 4.0, gated=True, act="silu", bias=False).fc1.out_features == 170


def test_gated_mlp_math():
    torch.manual_seed(0)
    mlp = GatedMlp(8, 5, act="silu", bias=False)
    x = torch.randn(3, 8)
    expected = (F.silu(x @ mlp.fc1.weight.T) * (x @ mlp.fc3.weight.T)) @ mlp.fc2.weight.T
    torch.testing.assert_close(mlp(x), expected)
    plain = Mlp(8, 5, act="gelu")
    torch.testing.assert_close(plain(x), plain.fc2(F.gelu(plain.fc1(x))))


def test_unknown_activation_is_rejected():
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        BlockOptions(act="swish")


def test_layernorm_without_bias_has_no_state_entry():
    ln = LayerNorm(6, eps=1e-6, bias=False)
    assert list(ln.state_dict()) == ["weight"]
    x = torch.randn(2, 6)
    torch.testing.assert_close(ln(x), F.layer_norm(x, (6,), eps=1e-6))
    assert "bias" in LayerNorm(6).state_dict()


def test_drop_path_is_seeded_and_identity_in_eval():
    x = torch.ones(64, 3)
    dp = DropPath(0.5, generator=torch.Generator().manual_seed(3))
    a = dp(x)
    dp.generator.manual_seed(3)
    assert torch.equal(a, dp(x))
    assert set(a[:, 0].tolist()) == {0.0, 2.0}
    dp.eval()
    assert torch.equal(dp(x), x)
    with pytest.raises(ValueError):
        DropPath(1.0)


def test_encoder_block_is_pre_norm_residual():
    torch.manual_seed(0)
    blk = EncoderBlock(16, 2, RELEASE)
    x = torch.randn(2, 5, 16)
    h = x + blk.attn(blk.norm1(x))
    torch.testing.assert_close(blk(x), h + blk.mlp(blk.norm2(h)))


def test_decoder_block_cache_matches_full_causal_pass():
    torch.manual_seed(0)
    blk = DecoderBlock(16, 2, RELEASE).eval()
    x, ctx = torch.randn(2, 5, 16), torch.randn(2, 7, 16)
    cross_keep = torch.ones(2, 1, 7, dtype=torch.bool)
    cross_keep[1, :, 5:] = False
    causal = torch.ones(5, 5, dtype=torch.bool).tril()[None]
    full = blk(x, ctx, causal, cross_keep)
    cache = DecoderLayerCache()
    out = [blk(x[:, t : t + 1], ctx, causal[:, t : t + 1, : t + 1], cross_keep, cache) for t in range(5)]
    torch.testing.assert_close(torch.cat(out, 1), full, atol=1e-6, rtol=1e-5)
    # Manual: separate query / context norms feed the cross-attention.
    h = x + blk.self_attn(blk.norm1(x), causal)
    h = h + blk.cross_attn(blk.query_norm(h), blk.context_norm(ctx), cross_keep)
    torch.testing.assert_close(full, h + blk.mlp(blk.norm2(h)))
