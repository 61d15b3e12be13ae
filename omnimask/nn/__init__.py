"""The one copy of 4M's transformer building blocks, shared by the model and the tokenizers.

Attention through ``scaled_dot_product_attention`` with boolean keep-masks (True = attend), plain
and gated MLPs, LayerNorm with or without bias, pre-norm encoder / decoder blocks, drop-path and the
sine-cosine position embeddings of the released models.
"""

from omnimask.nn.attention import CrossAttention, KVCache, SelfAttention, attend
from omnimask.nn.blocks import BlockOptions, DecoderBlock, DecoderLayerCache, DropPath, EncoderBlock
from omnimask.nn.mlp import ACTIVATIONS, GatedMlp, Mlp, build_mlp, make_activation, mlp_hidden_dim
from omnimask.nn.norm import LayerNorm
from omnimask.nn.posemb import resize_grid_table, sincos_1d, sincos_2d

__all__ = [
    "ACTIVATIONS",
    "BlockOptions",
    "CrossAttention",
    "DecoderBlock",
    "DecoderLayerCache",
    "DropPath",
    "EncoderBlock",
    "GatedMlp",
    "KVCache",
    "LayerNorm",
    "Mlp",
    "SelfAttention",
    "attend",
    "build_mlp",
    "make_activation",
    "mlp_hidden_dim",
    "resize_grid_table",
    "sincos_1d",
    "sincos_2d",
]
