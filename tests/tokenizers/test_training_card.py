"""Card formats of the SynthWorld tokenizers: fixed-range log depth, one-channel maps, bool edges, unit normals."""

import math

import numpy as np
import pytest
import torch

from omnimask.tokenizers.card import InputSpec, TokenizerCard, TokenizerInputError, exp_depth, log_depth
from omnimask.tokenizers.map_features import map_features
from omnimask.training.tokenizers.recipes import SYNTH_MAPS


def card(kind: str) -> TokenizerCard:
    spec, output, _, _ = SYNTH_MAPS[kind]
    return TokenizerCard(name=kind, modality=kind, kind="vqvae", input=spec, output=output, codebook_size=8,
                         latent_dim=4, image_size=(4, 4), patch_size=2)  # fmt: skip


def test_log_depth_is_fixed_range_and_invertible():
    metres = torch.tensor([0.0, 0.5, 5.0, 50.0, 80.0, 0.1])
    v = log_depth(metres, (0.5, 50.0))
    assert v.tolist() == pytest.approx([1.0, 0.0, 0.5, 1.0, 1.0, 0.0])  # sky → far; clipped to the range
    assert exp_depth(v, (0.5, 50.0))[1:4].tolist() == pytest.approx([0.5, 5.0, 50.0])


def test_depth_card_gives_metres_back_and_marks_sky_invalid():
    c = card("depth")
    depth = np.array([[[0.0, 1.0, 2.5, 3.0]] * 4], np.float32)  # (1, 4, 4) metres, one sky column
    x = c.normalize(depth)
    assert x.shape == (1, 1, 4, 4) and x[0, 0, 0, 0] == 1.0
    assert c.valid_mask(depth)[0, 0].tolist() == [False, True, True, True]
    back = c.denormalize(x)
    assert back.shape == (1, 4, 4)
    np.testing.assert_allclose(back[0, :, 1:], depth[0, :, 1:], rtol=1e-5)
    assert back[0, 0, 0] == pytest.approx(50.0)  # sky decodes as far
    # the k-means stand-in sees exactly the same values (one implementation)
    np.testing.assert_allclose(map_features("depth").to_features(depth[0], 0), x[0].numpy(), rtol=1e-6)


def test_edges_take_bool_or_0_1_maps_and_decode_logits_to_bool():
    c = card("edges")
    edges = np.zeros((2, 4, 4), bool)
    edges[0, 1] = True
    x = c.normalize(edges)
    assert x.dtype == torch.float32 and x.shape == (2, 1, 4, 4) and x.sum() == 4
    assert torch.equal(c.normalize(edges.astype(np.uint8)), x)
    decoded = c.denormalize(x * 8 - 4)  # logits: +4 on edges, -4 elsewhere
    assert decoded.dtype == torch.bool and torch.equal(decoded, torch.from_numpy(edges))
    with pytest.raises(TokenizerInputError, match="bool"):
        c.normalize(np.full((1, 4, 4), 2, np.uint8))


def test_normals_are_channels_last_unit_vectors_with_zero_sky():
    c = card("normal")
    n = np.zeros((1, 4, 4, 3), np.float32)
    n[0, :2, :, 2] = 1.0  # top half faces the camera, bottom half is sky
    assert c.valid_mask(n)[0, :, 0].tolist() == [True, True, False, False]
    decoded = c.denormalize(c.normalize(n) * 3 + torch.tensor([0.0, 0.1, 0.0])[None, :, None, None])
    assert decoded.shape == (1, 4, 4, 3)
    np.testing.assert_allclose(np.linalg.norm(decoded[0, :2].numpy(), axis=-1), 1.0, rtol=1e-6)
    assert decoded[0, 2:].abs().max() == 0  # short vectors (sky) decode to 0


def test_semseg_and_rgb_formats():
    seg = card("semseg")
    ids = np.random.default_rng(0).integers(0, 9, (2, 4, 4)).astype(np.uint8)
    assert torch.equal(seg.normalize(ids), torch.from_numpy(ids).long())
    with pytest.raises(TokenizerInputError, match=r"values in \[0, 8\]"):
        seg.normalize(np.full((1, 4, 4), 9, np.uint8))
    rgb = card("rgb")
    img = np.random.default_rng(1).integers(0, 256, (2, 4, 4, 3)).astype(np.uint8)
    assert torch.equal(rgb.denormalize(rgb.normalize(list(img))), torch.from_numpy(img))  # a list of samples


def test_map_layout_refuses_channel_axes():
    with pytest.raises(TokenizerInputError, match=r"\(B, H, W\)"):
        card("depth").normalize(np.ones((1, 1, 4, 4), np.float32))
    assert InputSpec(layout="map").layout == "map" and math.isclose(InputSpec().depth_range[1], 50.0)
