"""The analytic FLOP count agrees with torch's own counter on a real model."""

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from omnimask.batch import ModalityBatch
from omnimask.model import FourM, ModelConfig, Queries
from omnimask.model.flops import forward_flops


def test_forward_flops_match_torch_flop_counter():
    cfg = ModelConfig(size=None, dim=128, encoder_depth=2, decoder_depth=3, num_heads=2, modality_set="synthworld")
    model = FourM(cfg).eval()
    n, m = 40, 24
    ids = torch.randint(0, 512, (1, 64), generator=torch.Generator().manual_seed(0))
    keep = torch.zeros(1, 64, dtype=torch.bool)
    keep[0, :n] = True
    batch = {"tok_rgb@64": ModalityBatch(ids, keep, torch.zeros_like(keep))}
    queries = Queries("tok_depth@64", torch.arange(m)[None])
    # the math kernel spells attention out as matmuls, so the counter sees the score FLOPs too
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model.decode(model.encode(batch), queries)
    vocab = model.specs["tok_depth@64"].vocab_size
    expected = forward_flops(cfg, n, m, vocab)
    assert abs(counter.get_total_flops() - expected) / expected < 0.02
