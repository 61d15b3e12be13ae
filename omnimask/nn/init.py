"""Weight initialisation shared by every transformer in omnimask (4M's scheme).

Xavier-uniform linears (fused q/k/v or k/v projections optionally initialised per chunk, as the
released 4M does), N(0, 0.02) embeddings, LayerNorms at 1 / 0 — all drawn from an explicit generator
in module order, so a seed reproduces the weights exactly.
"""

from __future__ import annotations

import torch
from torch import nn

from omnimask.nn.norm import LayerNorm


@torch.no_grad()
def init_transformer_(root: nn.Module, generator: torch.Generator, fused_chunk: int | None = None) -> None:
    """Initialise every Linear / Embedding / LayerNorm below ``root`` in place.

    Args:
        root: the module to initialise.
        generator: source of all random draws.
        fused_chunk: when given, linears named ``*.qkv`` / ``*.kv`` are initialised in row chunks of
            this size (one Xavier draw per q, k, v), as separate projections would be.
    """
    for name, module in root.named_modules():
        if isinstance(module, nn.Linear):
            fused = fused_chunk is not None and (name.endswith(".qkv") or name.endswith(".kv"))
            for chunk in module.weight.split(fused_chunk) if fused else [module.weight]:
                nn.init.xavier_uniform_(chunk, generator=generator)
            if module.bias is not None:
                module.bias.zero_()
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.02, generator=generator)
        elif isinstance(module, LayerNorm):
            module.weight.fill_(1.0)
            if isinstance(module.bias, nn.Parameter):
                module.bias.zero_()
