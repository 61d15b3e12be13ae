"""MLP VQ-VAE for vectors: id parsing, shapes, (B, n) token layout, card-driven use, training."""

import pytest
import torch

from omnimask.tokenizers.base import ModalityTokenizer
from omnimask.tokenizers.card import InputSpec, TokenizerInputError
from omnimask.tokenizers.mlp_vqvae import MLPVQVAE, BottleneckMLP, BottleneckMLPConfig, MLPVQVAEConfig
from omnimask.tokenizers.quantizers import QuantizerConfig


def tiny(num_codebooks=4, kind="memcodes") -> MLPVQVAEConfig:
    mlp = BottleneckMLPConfig(num_blocks=1, width=16, expansion=2)
    q = QuantizerConfig(kind=kind, codebook_size=32, num_codebooks=num_codebooks)
    return MLPVQVAEConfig(in_dim=12, latent_dim=16, encoder=mlp, decoder=mlp, quantizer=q)


def test_parse_released_ids():
    assert BottleneckMLPConfig.parse("BottleneckMLP/B_2-Wi_64") == BottleneckMLPConfig(num_blocks=2, width=64)
    assert BottleneckMLPConfig.parse("BottleneckMLP/B_6-Wi_1024-E_2").expansion == 2
    with pytest.raises(ValueError, match="BottleneckMLP/B_<n>"):
        BottleneckMLPConfig.parse("MLP/B_2-Wi_64")


def test_bottleneck_mlp_is_residual_per_position():
    mlp = BottleneckMLP(3, 5, BottleneckMLPConfig(num_blocks=2, width=8, expansion=2))
    x = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    out = mlp(x)
    assert out.shape == (2, 5, 4, 4)
    assert torch.allclose(out[:, :, 1, 2], mlp(x[:, :, 1, 2]), atol=1e-6)  # (B, C) works the same


def test_vectors_become_n_tokens_and_back():
    model = MLPVQVAE(tiny(num_codebooks=4)).eval()
    x = torch.randn(3, 12, generator=torch.Generator().manual_seed(0))
    ids = model.tokenize(x)
    assert ids.shape == (3, 4) and ids.max() < 32
    assert torch.equal(ids, model.tokenize(x[:, :, None, None]))
    assert model.decode_tokens(ids).shape == (3, 12)
    with pytest.raises(ValueError, match="4 token"):
        model.decode_tokens(ids[:, :3])
    with pytest.raises(ValueError, match=r"\(B, 12\)"):
        model.tokenize(torch.randn(3, 11))


def test_single_codebook_cosine_variant():
    model = MLPVQVAE(tiny(num_codebooks=1, kind="cosine_ema")).eval()
    ids = model.tokenize(torch.randn(2, 12, generator=torch.Generator().manual_seed(1)))
    assert ids.shape == (2, 1)
    assert model.decode_tokens(ids).shape == (2, 12)


def test_card_driven_vector_tokenizer():
    tok = ModalityTokenizer.create(tiny(), name="g", modality="global_feature",
                                   input=InputSpec(layout="vector", channels=12)).eval()  # fmt: skip
    assert tok.card.grid() == (1, 4) and tok.card.tokens_per_sample == 4 and tok.card.decoding.decoder == "mlp"
    x = torch.randn(2, 12, generator=torch.Generator().manual_seed(2))
    assert tok.detokenize(tok.tokenize(x)).shape == (2, 12)
    with pytest.raises(TokenizerInputError, match=r"\(B, 12\)"):
        tok.tokenize(x[:, :, None, None])


def test_training_reduces_reconstruction_error():
    torch.manual_seed(0)  # parameter init only
    model = MLPVQVAE(tiny()).train()
    x = torch.randn(8, 12, generator=torch.Generator().manual_seed(3))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(30):
        out = model.training_loss(x)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        first = first if first is not None else out["recon_loss"].item()
    assert out["recon_loss"].item() < 0.7 * first
    assert out["ids"].shape == (8, 4)
