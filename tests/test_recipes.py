"""Every named run in :data:`omnimask.recipes.RECIPES`: resolves to a valid config and builds its model.

The SynthWorld recipes build for real on the CPU; the released B / L / XL runs build on the meta device
(shapes only, no memory) and must have the block structure and parameter counts their size implies.
"""

from __future__ import annotations

import inspect

import pytest
import torch

from omnimask.config import from_dict, to_dict
from omnimask.model import SIZES, FourM
from omnimask.nn.mlp import mlp_hidden_dim
from omnimask.recipes import RECIPES, get_recipe
from omnimask.recipes.specialist import SPECIALIST_TASKS
from omnimask.training.config import TrainConfig

#: Recipes that need an argument (``NAME:ARG``) -> every argument they accept.
RECIPE_ARGS: dict[str, list[str]] = {"synth_specialist": list(SPECIALIST_TASKS)}
#: The released architecture (SwiGLU, mlp ratio 4, no biases) sizes of the released runs.
RELEASED_SIZES = ("B", "L", "XL")


def _needs_argument(name: str) -> bool:
    params = inspect.signature(RECIPES[name]).parameters.values()
    return any(p.default is inspect.Parameter.empty for p in params)


def recipe_names() -> list[str]:
    names = []
    for name in RECIPES:
        names += [f"{name}:{arg}" for arg in RECIPE_ARGS[name]] if name in RECIPE_ARGS else [name]
    return names


NAMES = recipe_names()


def is_released(cfg: TrainConfig) -> bool:
    return cfg.model.size in RELEASED_SIZES


def test_every_recipe_that_needs_an_argument_lists_its_arguments_here():
    assert {name for name in RECIPES if _needs_argument(name)} == set(RECIPE_ARGS)


@pytest.mark.parametrize("name", NAMES)
def test_recipe_resolves_to_a_valid_config(name):
    cfg = get_recipe(name)
    assert isinstance(cfg, TrainConfig) and cfg.recipe == name
    assert from_dict(TrainConfig, to_dict(cfg)) == cfg  # what config.json stores rebuilds the same run
    specs = cfg.model.specs()
    assert specs and set(cfg.model.output_names(specs)) <= set(specs)
    assert cfg.masking.num_input_tokens > 0 and cfg.masking.num_target_tokens > 0
    assert set(cfg.masking.mixture.modalities) <= set(specs)
    assert cfg.total_steps(cfg.masking.num_input_tokens + cfg.masking.num_target_tokens) > 0


def block_counts(dim: int) -> tuple[int, int]:
    """Parameters of one encoder and one decoder block of the released architecture at width ``dim``."""
    hidden = mlp_hidden_dim(dim, 4.0, gated=True)
    mlp = 3 * dim * hidden  # fc1, fc3 (D -> hidden), fc2 (hidden -> D), no biases
    attention = 4 * dim * dim  # q, k, v, out projections, no biases
    return attention + mlp + 2 * dim, 2 * attention + mlp + 4 * dim  # + LayerNorm scales (no biases)


def build(cfg: TrainConfig, device: str) -> FourM:
    with torch.device(device):
        return FourM(cfg.model)


@pytest.mark.parametrize("name", [n for n in NAMES if is_released(get_recipe(n))])
def test_released_recipe_builds_on_meta_with_the_size_it_names(name):
    cfg = get_recipe(name)
    arch = SIZES[cfg.model.size]
    model = build(cfg, "meta")
    assert all(p.is_meta for p in model.parameters())
    assert (len(model.encoder), len(model.decoder)) == (arch["encoder_depth"], arch["decoder_depth"])
    dim = arch["dim"]
    per_encoder, per_decoder = block_counts(dim)
    assert sum(p.numel() for p in model.encoder.parameters()) == arch["encoder_depth"] * per_encoder
    assert sum(p.numel() for p in model.decoder.parameters()) == arch["decoder_depth"] * per_decoder
    assert {block.attn.num_heads for block in model.encoder} == {arch["num_heads"]}
    specs = cfg.model.specs()
    assert list(model.encoder_embeddings) == cfg.model.input_names(specs)
    assert list(model.decoder_embeddings) == cfg.model.output_names(specs)
    assert {n: tuple(p.shape) for n, p in model.mod_emb.items()} == {n: (dim,) for n in specs}
    for name_, adapter in model.encoder_embeddings.items():
        if hasattr(adapter, "token_emb"):
            assert tuple(adapter.token_emb.weight.shape) == (specs[name_].vocab_size, dim), name_


@pytest.mark.parametrize("name", [n for n in NAMES if not is_released(get_recipe(n))])
def test_small_recipe_builds_a_model_that_meta_describes(name):
    cfg = get_recipe(name)
    model = build(cfg, "cpu")
    dim = model.mask_token.shape[0]
    assert dim == cfg.model.resolve().dim
    assert all(torch.isfinite(p).all() for p in model.parameters())
    shapes = {n: p.shape for n, p in model.state_dict().items()}
    assert shapes == {n: p.shape for n, p in build(cfg, "meta").state_dict().items()}
