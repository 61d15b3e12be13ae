"""Matmul FLOPs of one FourM pass, from the configuration alone (no model needs to exist).

Used to estimate what a released B / L / XL model costs on a given machine from a throughput
measured on a smaller one, and to report achieved FLOP/s. Counts multiply-adds as 2 FLOPs and only
the matrix products (projections, attention scores and mixing, MLPs, output heads), which dominate
every size; norms, softmax and embeddings are left out (a test checks the count against
``torch.utils.flop_counter`` on a real model).
"""

from __future__ import annotations

from omnimask.model.config import ModelConfig
from omnimask.nn.mlp import mlp_hidden_dim


def _mlp(tokens: int, dim: int, hidden: int, gated: bool) -> int:
    return 2 * tokens * dim * hidden * (3 if gated else 2)


def _width_and_depths(cfg: ModelConfig) -> tuple[int, int, int]:
    """D, encoder depth, decoder depth of ``cfg`` with the size table applied."""
    c = cfg.resolve()
    assert c.dim is not None and c.encoder_depth is not None and c.decoder_depth is not None  # resolve() fills them
    return c.dim, c.encoder_depth, c.decoder_depth


def encoder_flops(cfg: ModelConfig, n: int) -> int:
    """FLOPs of the encoder over ``n`` tokens, plus the decoder's context projection."""
    d, depth, _ = _width_and_depths(cfg)
    hidden = mlp_hidden_dim(d, cfg.block.mlp_ratio, cfg.block.gated_mlp)
    attention = 2 * n * d * 3 * d + 2 * n * d * d + 2 * 2 * n * n * d
    return depth * (attention + _mlp(n, d, hidden, cfg.block.gated_mlp)) + 2 * n * d * d


def decoder_flops(cfg: ModelConfig, m: int, n: int, vocab: int) -> int:
    """FLOPs of the decoder for ``m`` queries against ``n`` encoder tokens, including the output head."""
    d, _, depth = _width_and_depths(cfg)
    hidden = mlp_hidden_dim(d, cfg.block.mlp_ratio, cfg.block.gated_mlp)
    self_attention = 2 * m * d * 3 * d + 2 * m * d * d + 2 * 2 * m * m * d
    cross_attention = 2 * m * d * d + 2 * n * d * 2 * d + 2 * 2 * m * n * d + 2 * m * d * d
    per_layer = self_attention + cross_attention + _mlp(m, d, hidden, cfg.block.gated_mlp)
    return depth * per_layer + 2 * m * d * vocab


def forward_flops(cfg: ModelConfig, n: int, m: int, vocab: int) -> int:
    """One encoder pass over ``n`` tokens and one decoder pass with ``m`` queries of vocabulary ``vocab``."""
    return encoder_flops(cfg, n) + decoder_flops(cfg, m, n, vocab)
