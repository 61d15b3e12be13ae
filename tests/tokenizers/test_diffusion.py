"""Diffusion decoder: noise schedules, DDIM plans and steps, patched UNet, DiVAE training and decoding."""

import math

import pytest
import torch

from omnimask.tokenizers.base import ModalityTokenizer, make_card
from omnimask.tokenizers.card import InputSpec
from omnimask.tokenizers.diffusion.ddim import ddim_sample, ddim_step, ddim_timesteps, dynamic_threshold
from omnimask.tokenizers.diffusion.divae import DiffusionConfig, DiVAE, DiVAEConfig
from omnimask.tokenizers.diffusion.schedule import NoiseSchedule, betas_for, rescale_zero_terminal_snr
from omnimask.tokenizers.diffusion.unet import PatchedUNet, UNetConfig, timestep_embedding
from omnimask.tokenizers.quantizers import QuantizerConfig
from omnimask.tokenizers.vit import ViTConfig

TINY_UNET = UNetConfig(
    patch_size=2, model_channels=32, num_res_blocks=1, attention_resolutions=(2,), channel_mult=(1, 2)
)


def test_beta_schedules():
    lin = betas_for("linear", 1000)
    assert lin[0].item() == pytest.approx(1e-4) and lin[-1].item() == pytest.approx(0.02)
    cos = betas_for("squaredcos_cap_v2", 1000)
    assert cos.max().item() == pytest.approx(0.999) and cos[0].item() < 1e-4
    with pytest.raises(ValueError, match="shifted_cosine"):
        betas_for("quadratic", 10)


def test_zero_terminal_snr_keeps_first_and_zeroes_last():
    betas = betas_for("linear", 1000)
    before = torch.cumprod(1 - betas, 0)
    after = torch.cumprod(1 - rescale_zero_terminal_snr(betas), 0)
    assert after[-1].item() == 0.0
    assert after[0].item() == pytest.approx(before[0].item(), abs=1e-7)
    assert (after[1:] <= after[:-1]).all()


def test_shifted_cosine_schedule_is_monotone_with_zero_end():
    s = NoiseSchedule.create("shifted_cosine:2.0", prediction_type="v_prediction")
    abar = s.alphas_cumprod
    assert abar[-1] == 0 and (abar[1:] <= abar[:-1]).all()
    plain = NoiseSchedule.create("shifted_cosine:1.0").alphas_cumprod
    assert (abar[1:-1] < plain[1:-1]).all()  # shift > 1 = noisier


def test_epsilon_prediction_is_refused_at_zero_terminal_snr():
    with pytest.raises(ValueError, match="zero terminal SNR"):
        NoiseSchedule.create("linear", prediction_type="epsilon")
    NoiseSchedule.create("linear", prediction_type="epsilon", zero_terminal_snr=False)


@pytest.mark.parametrize("pred", ["epsilon", "sample", "v_prediction"])
def test_targets_invert_to_clean_sample_and_noise(pred):
    s = NoiseSchedule.create("linear", prediction_type=pred, zero_terminal_snr=False)
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(2, 1, 4, 4, generator=g), torch.randn(2, 1, 4, 4, generator=g)
    t = torch.tensor([500, 500])
    xt = s.add_noise(x0, eps, t)
    x0_hat, eps_hat = s.predict_x0_eps(s.target(x0, eps, t), xt, 500)
    assert torch.allclose(x0_hat, x0, atol=1e-4) and torch.allclose(eps_hat, eps, atol=1e-4)


def test_timestep_plans_including_the_reference_quirk():
    assert ddim_timesteps(4, 1000, "trailing") == [999, 749, 499, 249]
    assert ddim_timesteps(3, 1000, "trailing") == [999, 666, 333, 0]
    assert ddim_timesteps(4, 1000, "leading") == [750, 500, 250, 0]
    assert ddim_timesteps(4, 1000, "linspace") == [999, 666, 333, 0]
    with pytest.raises(ValueError, match="num_steps"):
        ddim_timesteps(0, 1000)


def test_dynamic_threshold_is_clamp_at_max_one_and_rescales_above():
    x = torch.tensor([[[[-3.0, 0.5], [2.0, 0.0]]]])
    assert torch.equal(dynamic_threshold(x), x.clamp(-1, 1))
    big = torch.full((1, 1, 10, 10), 4.0)
    assert torch.allclose(dynamic_threshold(big, max_value=5.0), torch.ones_like(big))


def test_ddim_with_an_oracle_denoiser_recovers_the_sample():
    s = NoiseSchedule.create("linear", prediction_type="sample")
    x0 = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    noise = torch.randn(1, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    out = ddim_sample(lambda x, t: x0, s, noise, num_steps=4)
    assert torch.allclose(out, x0, atol=1e-6)


def test_one_ddim_step_matches_the_closed_form():
    s = NoiseSchedule.create("linear", prediction_type="v_prediction")
    g = torch.Generator().manual_seed(2)
    x, v = torch.randn(1, 1, 2, 2, generator=g), torch.randn(1, 1, 2, 2, generator=g)
    a, a_next = s.alphas_cumprod[749].item(), s.alphas_cumprod[499].item()
    x0 = math.sqrt(a) * x - math.sqrt(1 - a) * v
    eps = math.sqrt(a) * v + math.sqrt(1 - a) * x
    expected = math.sqrt(a_next) * x0 + math.sqrt(1 - a_next) * eps
    out, _ = ddim_step(s, v, x, 749, 499)
    assert torch.allclose(out, expected, atol=1e-6)


def test_stochastic_ddim_is_seeded():
    s = NoiseSchedule.create("linear", prediction_type="sample")
    noise = torch.randn(1, 1, 4, 4, generator=torch.Generator().manual_seed(0))

    def run(seed):
        return ddim_sample(lambda x, t: 0.5 * x, s, noise, eta=1.0, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(run(3), run(3)) and not torch.equal(run(3), run(4))


def test_timestep_embedding_layout():
    emb = timestep_embedding(torch.tensor([0, 10]), 8)
    assert emb.shape == (2, 8)
    assert emb[0].tolist() == [1, 1, 1, 1, 0, 0, 0, 0]  # cos first, then sin
    assert emb[1, 0].item() == pytest.approx(math.cos(10)) and emb[1, 4].item() == pytest.approx(math.sin(10))


def test_patched_unet_shapes_and_conditioning_mask():
    unet = PatchedUNet(image_channels=1, cond_channels=4, cfg=TINY_UNET).eval()
    g = torch.Generator().manual_seed(0)
    x, cond = torch.randn(2, 1, 16, 16, generator=g), torch.randn(2, 4, 2, 2, generator=g)
    t = torch.tensor([10, 900])
    with torch.no_grad():
        out = unet(x, t, cond)
        assert out.shape == (2, 1, 16, 16)
        none_kept = unet(x, t, cond, cond_keep=torch.zeros(2, 2, 2, dtype=torch.bool))
        assert torch.allclose(none_kept, unet(x, t, torch.zeros_like(cond)))
        assert torch.equal(unet(x, t, cond, cond_keep=torch.ones(2, 2, 2, dtype=torch.bool)), out)
    with pytest.raises(ValueError, match="divisible by 2"):
        unet(torch.randn(1, 1, 15, 16), t[:1], cond[:1])


def tiny_divae(**diffusion) -> DiVAE:
    cfg = DiVAEConfig(in_channels=1, image_size=16, patch_size=8, latent_dim=4,
                      encoder=ViTConfig(dim=32, depth=1, num_heads=2), unet=TINY_UNET,
                      quantizer=QuantizerConfig(codebook_size=16),
                      diffusion=DiffusionConfig(**{"prediction_type": "v_prediction", **diffusion}))  # fmt: skip
    return DiVAE(cfg)


def test_divae_training_loss_backpropagates_to_encoder():
    torch.manual_seed(0)  # parameter init only
    model = tiny_divae(cond_dropout=0.5, masked_cond=True).train()
    again = tiny_divae(cond_dropout=0.5, masked_cond=True).train()
    again.load_state_dict(model.state_dict())  # before the EMA update of the first call
    x = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    out = model.training_loss(x, torch.Generator().manual_seed(2))
    assert torch.isfinite(out["loss"]) and out["ids"].shape == (2, 2, 2)
    out["loss"].backward()
    assert model.encoder.proj.weight.grad.abs().sum() > 0
    assert again.training_loss(x, torch.Generator().manual_seed(2))["diffusion_loss"].item() == pytest.approx(
        out["diffusion_loss"].item(), rel=1e-5
    )


def test_conditioning_dropout_masks():
    model = tiny_divae(cond_dropout=1.0, masked_cond=True, masked_cond_low=1, masked_cond_high=1)
    keep = model.sample_cond_keep(3, (2, 2), torch.Generator().manual_seed(0))
    assert keep.shape == (3, 2, 2) and (keep.flatten(1).sum(1) == 3).all()
    assert tiny_divae(cond_dropout=0.0).sample_cond_keep(2, (2, 2), torch.Generator()).all()


def test_divae_decodes_tokens_with_seeded_noise():
    model = tiny_divae().eval()
    ids = torch.randint(0, 16, (1, 2, 2), generator=torch.Generator().manual_seed(0))
    a = model.decode_tokens(ids, num_steps=2, generator=torch.Generator().manual_seed(5))
    b = model.decode_tokens(ids, num_steps=2, generator=torch.Generator().manual_seed(5))
    assert a.shape == (1, 1, 16, 16) and torch.equal(a, b)
    assert model.decode_tokens(ids, num_steps=2, image_size=(32, 32)).shape == (1, 1, 32, 32)


def test_divae_as_card_driven_tokenizer_round_trips_through_a_checkpoint(tmp_path):
    model = tiny_divae(decode_steps=2)
    spec = InputSpec(channels=1, value_range=(-1.0, 1.0))
    tok = ModalityTokenizer(model, make_card(model.cfg, name="d", modality="normal", input=spec)).eval()
    decoding = tok.card.decoding
    assert (decoding.decoder, decoding.steps, decoding.timestep_spacing) == ("diffusion", 2, "trailing")
    raw = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    ids = tok.tokenize(raw)
    assert ids.shape == (1, 4)
    tok.save(tmp_path)
    loaded = ModalityTokenizer.load(tmp_path)
    assert isinstance(loaded.model, DiVAE) and loaded.card == tok.card
    a = tok.detokenize(ids, generator=torch.Generator().manual_seed(4))
    b = loaded.detokenize(ids, generator=torch.Generator().manual_seed(4))
    assert a.shape == (1, 1, 16, 16) and torch.equal(a, b) and a.abs().max() <= 1
