"""Spatial VQ-VAE: ViT encoder/decoder geometry, resolutions, segmentation input, training."""

import pytest
import torch

from omnimask.tokenizers.losses import reconstruction_loss
from omnimask.tokenizers.quantizers import QuantizerConfig, codebook_stats
from omnimask.tokenizers.vit import ViTConfig, ViTDecoder, ViTEncoder
from omnimask.tokenizers.vqvae import SpatialVQVAE, VQVAEConfig

TINY = ViTConfig(dim=32, depth=1, num_heads=2)


def tiny_cfg(**kw) -> VQVAEConfig:
    base = {"in_channels": 3, "image_size": 32, "patch_size": 8, "latent_dim": 8, "encoder": TINY, "decoder": TINY,
            "quantizer": QuantizerConfig(codebook_size=32)}  # fmt: skip
    return VQVAEConfig(**{**base, **kw})


def test_encoder_decoder_shapes_at_several_resolutions():
    enc = ViTEncoder(in_channels=2, patch_size=8, image_size=32, cfg=TINY, post_mlp=True)
    dec = ViTDecoder(out_channels=5, patch_size=8, image_size=32, cfg=TINY, post_mlp=True)
    for size in [(32, 32), (48, 64), (16, 24)]:
        z = enc(torch.randn(2, 2, *size))
        assert z.shape == (2, 32, size[0] // 8, size[1] // 8)
        assert dec(z).shape == (2, 5, *size)


def test_position_table_is_exact_at_native_grid_and_interpolated_elsewhere():
    enc = ViTEncoder(in_channels=1, patch_size=8, image_size=32, cfg=TINY)
    native = enc.position_table((4, 4))
    assert torch.equal(native, enc.pos_emb.flatten(2)[0].t())
    other = enc.position_table((6, 6))
    assert other.shape == (36, 32) and not torch.allclose(other[:16], native)


def test_decoder_unpatchifies_channel_major():
    dec = ViTDecoder(out_channels=2, patch_size=2, image_size=4, cfg=TINY)
    with torch.no_grad():
        for p in dec.parameters():
            p.zero_()
        dec.out_proj.bias.copy_(torch.arange(8.0))  # features ordered (c, py, px)
    out = dec(torch.zeros(1, 32, 1, 1))
    assert out[0, 0].tolist() == [[0.0, 1.0], [2.0, 3.0]] and out[0, 1].tolist() == [[4.0, 5.0], [6.0, 7.0]]


def test_bad_input_shapes_are_clear_errors():
    enc = ViTEncoder(in_channels=3, patch_size=8, image_size=32, cfg=TINY)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        enc(torch.randn(1, 1, 32, 32))
    with pytest.raises(ValueError, match="divisible by the patch size 8"):
        enc(torch.randn(1, 3, 30, 32))


def test_segmentation_embeds_classes_and_outputs_logits():
    model = SpatialVQVAE(tiny_cfg(in_channels=4, num_labels=6)).eval()
    labels = torch.randint(0, 6, (2, 32, 32), generator=torch.Generator().manual_seed(0)).to(torch.uint8)
    out = model(labels)
    assert out.recon.shape == (2, 6, 32, 32) and out.ids.shape == (2, 4, 4)
    loss = reconstruction_loss("cross_entropy", out.recon, labels)
    assert torch.isfinite(loss)
    with pytest.raises(ValueError, match=r"\[0, 6\)"):
        model(torch.full((1, 32, 32), 6))


def test_tiny_vqvae_overfits_one_batch_quickly():
    torch.manual_seed(0)  # parameter init only; data below uses its own generator
    model = SpatialVQVAE(tiny_cfg(quantizer=QuantizerConfig(codebook_size=16, seed=1))).train()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 16, 16, generator=g) * 2 - 1
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        out = model.training_loss(x)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(out["recon_loss"].item())
    assert losses[-1] < 0.4 * losses[0]
    stats = codebook_stats(model.eval().tokenize(x), 16)
    assert stats.usage > 0 and 1.0 <= stats.perplexity <= 16


def test_valid_mask_excludes_pixels_from_the_loss():
    pred = torch.zeros(1, 1, 2, 2)
    target = torch.tensor([[[[0.0, 0.0], [0.0, 100.0]]]])
    valid = torch.tensor([[[True, True], [True, False]]])
    assert reconstruction_loss("smooth_l1", pred, target, valid).item() == 0.0
    assert reconstruction_loss("smooth_l1", pred, target).item() == pytest.approx(99.5 / 4)
