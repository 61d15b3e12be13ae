"""Pieces of tokenizer training that need no optimizer: recipes, batches, flips, loss weights."""

import dataclasses

import numpy as np
import pytest
import torch

from omnimask.tokenizers.base import ModalityTokenizer
from omnimask.training.tokenizers.data import flip_maps, sample_batch
from omnimask.training.tokenizers.evaluate import colorize, depth_scale, reconstruction_grid
from omnimask.training.tokenizers.loop import class_weights, hard_pixel_weights, pixel_weights, step_generator
from omnimask.training.tokenizers.recipes import SYNTH_MAPS, tokenizer_recipe


@pytest.mark.parametrize("modality", list(SYNTH_MAPS))
def test_synth64_recipes_build_small_tokenizers_with_an_8x8_grid(modality):
    cfg = tokenizer_recipe("synth64", modality)
    tok = ModalityTokenizer.create(cfg.model, name=modality, modality=modality, input=cfg.input, output=cfg.output)
    assert tok.card.grid() == (8, 8) and tok.vocab_size <= 1024
    params = sum(p.numel() for p in tok.model.parameters())
    assert params < 800_000  # ≤ 1.6 MB in float16: the shipped bundle stays a few MB


def test_batches_depend_only_on_seed_and_step():
    maps = np.arange(10 * 2 * 2, dtype=np.float32).reshape(10, 2, 2)
    a = sample_batch(maps, "depth", 4, step_generator(0, 7), flip=True)
    b = sample_batch(maps, "depth", 4, step_generator(0, 7), flip=True)
    c = sample_batch(maps, "depth", 4, step_generator(0, 8), flip=True)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_flipping_normals_mirrors_the_x_component():
    n = np.zeros((2, 1, 2, 3), np.float32)
    n[:, 0, 0] = (0.6, 0.0, 0.8)  # left pixel faces right
    out = flip_maps(n, "normal", torch.tensor([True, False]))
    assert out[0, 0, 1].tolist() == pytest.approx([-0.6, 0.0, 0.8]) and out[0, 0, 0].tolist() == [0, 0, 0]
    assert np.array_equal(out[1], n[1])


def test_pixel_weights_for_sky_and_sparse_edges():
    cfg = tokenizer_recipe("synth64", "depth")
    tok = ModalityTokenizer.create(cfg.model, name="depth", modality="depth", input=cfg.input, output=cfg.output)
    depth = np.ones((1, 64, 64), np.float32)
    depth[0, 0] = 0.0  # a sky row
    w = pixel_weights(tok, depth, tok.card.normalize(depth), cfg)
    assert w[0, 0].unique().tolist() == [pytest.approx(cfg.invalid_weight)] and w[0, 1:].unique().tolist() == [1.0]
    edges_cfg = tokenizer_recipe("synth64", "edges")
    edges_tok = ModalityTokenizer.create(edges_cfg.model, name="edges", modality="edges", input=edges_cfg.input,
                                         output=edges_cfg.output)  # fmt: skip
    edges = np.zeros((1, 64, 64), bool)
    edges[0, 5] = True
    w = pixel_weights(edges_tok, edges, edges_tok.card.normalize(edges), edges_cfg)
    assert w[0, 5].unique().tolist() == [edges_cfg.positive_weight] and w[0, 6].unique().tolist() == [1.0]
    rgb = tokenizer_recipe("synth64", "rgb")
    assert pixel_weights(ModalityTokenizer.create(rgb.model, name="rgb", modality="rgb", input=rgb.input),
                         np.zeros((1, 64, 64, 3), np.uint8), torch.zeros(1, 3, 64, 64),
                         dataclasses.replace(rgb)) is None  # fmt: skip


def test_class_weights_lift_rare_classes_and_average_one():
    labels = np.array([0] * 90 + [1] * 10)
    w = class_weights(labels, 3, exponent=0.5)
    assert w[1] / w[0] == pytest.approx(3.0, rel=1e-5)  # (0.9 / 0.1) ** 0.5
    assert float(w[0] * 0.9 + w[1] * 0.1) == pytest.approx(1.0, rel=1e-6)


def test_hard_pixel_weights_follow_the_probability_of_the_truth():
    logits = torch.zeros(1, 2, 1, 2)
    logits[0, 0, 0, 0] = 10.0  # pixel 0 confidently class 0; pixel 1 undecided
    w = hard_pixel_weights(logits, torch.tensor([[[0, 1]]]), gamma=2.0)
    assert w[0, 0, 0].item() == pytest.approx(0.0, abs=1e-6) and w[0, 0, 1].item() == pytest.approx(0.25)
    binary = hard_pixel_weights(torch.tensor([[[[0.0, 10.0]]]]), torch.tensor([[[[1.0, 0.0]]]]), gamma=1.0)
    assert binary[0, 0].tolist() == pytest.approx([0.5, 1.0], abs=1e-4)


def test_depth_pictures_put_near_bright_sky_black_on_the_inputs_scale():
    depth = np.array([[0.0, 2.0], [4.0, 8.0]], np.float32)
    scale = depth_scale(depth)
    img = colorize("depth", depth, scale)
    assert img[0, 0].tolist() == [0, 0, 0] and int(img[0, 1].sum()) > int(img[1, 1].sum())
    grid = reconstruction_grid("depth", depth[None], depth[None] * 2, title="x", cell=16)
    assert grid.width > 32 and grid.height > 16
