"""Tokenizer cards: input validation, normalisation round trips, checkpoints, card-driven tokenize."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from omnimask.config import ConfigError
from omnimask.tokenizers.base import ModalityTokenizer, Tokenizer
from omnimask.tokenizers.card import InputSpec, TokenizerCard, TokenizerInputError
from omnimask.tokenizers.quantizers import QuantizerConfig
from omnimask.tokenizers.vit import ViTConfig
from omnimask.tokenizers.vqvae import VQVAEConfig

TINY = ViTConfig(dim=32, depth=1, num_heads=2)
RGB = InputSpec(dtype="uint8", channels=3, value_range=(0, 255), scale=1 / 255, normalization="mean_std",
                mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))  # fmt: skip
DEPTH = InputSpec(channels=1, value_range=(0.0, None), normalization="depth_robust", invalid_below=0.0)


def rgb_tokenizer() -> ModalityTokenizer:
    cfg = VQVAEConfig(image_size=32, patch_size=8, latent_dim=8, encoder=TINY, decoder=TINY,
                      quantizer=QuantizerConfig(codebook_size=64))  # fmt: skip
    return ModalityTokenizer.create(cfg, name="rgb", modality="rgb", input=RGB).eval()


def rgb_batch(b=2, size=32):
    return torch.randint(0, 256, (b, 3, size, size), generator=torch.Generator().manual_seed(0)).to(torch.uint8)


def test_card_records_geometry_codebook_and_decoding():
    card = rgb_tokenizer().card
    assert (card.kind, card.image_size, card.patch_size, card.grid(), card.tokens_per_sample) == (
        "vqvae",
        (32, 32),
        8,
        (4, 4),
        16,
    )
    assert (card.codebook_size, card.latent_dim, card.decoding.decoder) == (64, 8, "vit")
    assert card.grid((48, 64)) == (6, 8)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (rgb_batch().float(), "dtype torch.float32.*uint8"),
        (rgb_batch()[0], r"\(B, 3, H, W\)"),
        (rgb_batch()[:, :1], "shape"),
        (rgb_batch(size=36), "multiple of the patch size 8"),
        ("not a tensor", "expected"),
    ],
)
def test_wrong_shape_dtype_or_size_is_a_clear_error(bad, match):
    with pytest.raises(TokenizerInputError, match=match):
        rgb_tokenizer().tokenize(bad)


def test_out_of_range_and_nan_are_errors():
    card = TokenizerCard(name="d", modality="depth", kind="vqvae", input=DEPTH, codebook_size=8, latent_dim=4,
                         image_size=(8, 8), patch_size=4)  # fmt: skip
    with pytest.raises(TokenizerInputError, match=r">= 0.*got \[-1"):
        card.check(-torch.ones(1, 1, 8, 8))
    with pytest.raises(TokenizerInputError, match="NaN"):
        card.check(torch.full((1, 1, 8, 8), float("nan")))


def test_rgb_normalisation_round_trips_uint8():
    card = rgb_tokenizer().card
    raw = rgb_batch()
    x = card.normalize(raw.numpy())  # numpy input accepted too
    assert x.dtype == torch.float32 and x.min() >= -1 and x.max() <= 1
    assert torch.equal(card.denormalize(x), raw)


def test_depth_robust_normalisation_and_metric_restore():
    card = TokenizerCard(name="d", modality="depth", kind="vqvae", input=DEPTH, codebook_size=8, latent_dim=4,
                         image_size=(8, 8), patch_size=4)  # fmt: skip
    depth = torch.linspace(1.0, 10.0, 64).reshape(1, 1, 8, 8).repeat(2, 1, 1, 1)
    depth[1] = depth[1] * 3 + 5  # an affine change of depth gives the same normalised map
    depth[:, :, 0, 0] = 0.0  # an invalid pixel
    x = card.normalize(depth)
    assert x[:, :, 0, 0].abs().max() == 0
    assert torch.allclose(x[0], x[1], atol=1e-5)
    valid = card.valid_mask(depth)[:, None]
    trimmed = x[0][valid[0]]
    assert abs(trimmed.mean().item()) < 0.1
    stats = card.robust_stats(depth)
    assert torch.allclose(card.denormalize(x, stats)[valid], depth[valid], atol=1e-4)


def test_segmentation_card_outputs_class_ids():
    card = TokenizerCard(name="s", modality="semseg", kind="vqvae", codebook_size=8, latent_dim=4,
                         input=InputSpec(layout="labels", dtype="int", value_range=(0, 4)),
                         output="class_logits", image_size=(8, 8), patch_size=4)  # fmt: skip
    logits = torch.zeros(1, 5, 2, 2)
    logits[0, 3] = 1.0
    assert card.denormalize(logits).tolist() == [[[3, 3], [3, 3]]]
    with pytest.raises(TokenizerInputError, match=r"in \[0, 4\]"):
        card.check(torch.full((1, 8, 8), 5))


def test_save_load_round_trip_tokenizes_identically(tmp_path):
    tok = rgb_tokenizer()
    assert isinstance(tok, Tokenizer)
    raw = rgb_batch()
    ids = tok.tokenize(raw)
    assert ids.shape == (2, 16) and ids.dtype == torch.int64
    tok.save(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["modality"] == "rgb"
    loaded = ModalityTokenizer.load(tmp_path)
    assert loaded.card == tok.card
    assert torch.equal(loaded.tokenize(raw), ids)
    out = loaded.detokenize(ids)
    assert out.dtype == torch.uint8 and out.shape == raw.shape
    assert torch.equal(out, tok.detokenize(ids.reshape(2, 4, 4)))


def test_detokenize_other_resolution_and_ambiguous_lengths():
    tok = rgb_tokenizer()
    ids = tok.tokenize(rgb_batch(size=48))  # 6x6 grid: a square, so (B, 36) is unambiguous
    assert tok.detokenize(ids).shape == (2, 3, 48, 48)
    with pytest.raises(ValueError, match="do not fill"):
        tok.detokenize(torch.zeros(1, 12, dtype=torch.long))
    assert tok.detokenize(torch.zeros(1, 12, dtype=torch.long), image_size=(24, 32)).shape == (1, 3, 24, 32)


def test_unknown_card_key_is_refused():
    data = json.loads(rgb_tokenizer().card.to_json())
    data["colour"] = "red"
    with pytest.raises(ConfigError, match="colour"):
        TokenizerCard.from_dict(data)
    assert np.isfinite(json.loads(rgb_tokenizer().card.to_json())["input"]["scale"])


def test_channels_last_cards_take_and_return_hwc_images():
    tok = rgb_tokenizer()
    card = dataclasses.replace(tok.card, input=dataclasses.replace(RGB, channels_last=True))
    hwc = ModalityTokenizer(tok.model, card)
    raw = rgb_batch()
    ids = hwc.tokenize(raw.permute(0, 2, 3, 1).numpy())
    assert torch.equal(ids, tok.tokenize(raw))
    assert torch.equal(hwc.detokenize(ids), tok.detokenize(ids).permute(0, 2, 3, 1))
    with pytest.raises(TokenizerInputError, match=r"\(B, H, W, 3\)"):
        hwc.tokenize(raw)
