"""The encoder as a feature extractor: equal to FourM.encode, exported with torch.export and reloaded
with nothing but torch, its shape contract written beside it."""

import json

import pytest
import torch

from omnimask.config import ConfigError
from omnimask.generation.state import full_condition
from omnimask.loading import export_encoder, load_model, shipped_model_path
from omnimask.model.encoder import FeatureEncoder


@pytest.fixture(scope="module")
def shipped():
    return load_model().eval()


@pytest.mark.parametrize("modality", ["rgb@64", "tok_depth@64"])
def test_features_equal_the_encoder_on_a_whole_input(shipped, modality):
    spec = shipped.specs[modality]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 3, 64, 64, generator=g) if spec.kind == "pixels" else torch.randint(0, spec.vocab_size, (3, 64))
    with torch.no_grad():
        features = FeatureEncoder(shipped, modality)(x)
        reference = shipped.encode({modality: full_condition(spec, x)}).hidden
    assert features.shape == (3, spec.num_tokens, 128)
    torch.testing.assert_close(features, reference, atol=1e-5, rtol=1e-5)


def test_exported_encoder_runs_with_torch_alone_at_any_batch_size(shipped, tmp_path):
    out = export_encoder(shipped_model_path(), tmp_path / "enc")
    contract = json.loads((out / "encoder.json").read_text())
    assert contract["input"]["modality"] == "rgb@64" and contract["input"]["shape"] == ["B", 3, 64, 64]
    assert contract["output"]["shape"] == ["B", 64, 128]
    program = torch.export.load(str(out / "encoder.pt2")).module()
    x = torch.randn(5, 3, 64, 64)  # not the batch size it was traced with
    with torch.no_grad():
        torch.testing.assert_close(program(x), FeatureEncoder(shipped, "rgb@64")(x), atol=1e-5, rtol=1e-5)


def test_feature_encoder_refuses_what_it_cannot_read(shipped):
    with pytest.raises(ConfigError, match="not an input"):
        FeatureEncoder(shipped, "tok_sky@64")
    with pytest.raises(ConfigError, match="sequence input"):
        FeatureEncoder(shipped, "caption")
    with pytest.raises(ValueError, match=r"expected input of shape \(B, 3, 64, 64\)"):
        FeatureEncoder(shipped, "rgb@64")(torch.zeros(2, 3, 32, 32))
