"""``omnimask.load`` and ``omnimask convert`` pick the right loader for every checkpoint kind."""

import pytest
import torch

import omnimask
from omnimask.cli import main
from omnimask.loading import detect
from omnimask.model import FourM, ModelConfig
from omnimask.tokenizers.base import ModalityTokenizer


def test_detects_our_model_and_rejects_unknown_folders(tmp_path):
    model = FourM(ModelConfig(size="tiny", modality_set="synthworld"))
    model.save_pretrained(tmp_path / "m")
    assert detect(tmp_path / "m") == "model"
    assert detect(tmp_path / "m" / "model.safetensors") == "model"
    assert isinstance(omnimask.load(tmp_path / "m"), FourM)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="not a checkpoint omnimask recognises"):
        detect(tmp_path / "empty")


def test_released_checkpoints_load_and_convert(reference_fixtures, tmp_path):
    assert detect(reference_fixtures / "fm") == "released_model"
    assert detect(reference_fixtures / "fm" / "model.safetensors") == "released_model"
    assert detect(reference_fixtures / "tokenizers" / "dinov2global_mlpvqvae") == "released_tokenizer"
    assert main(["convert", str(reference_fixtures / "fm"), "--out", str(tmp_path / "fm"),
                 "--inputs", "rgb@224", "--outputs", "tok_depth@224"]) == 0
    native = omnimask.load(tmp_path / "fm")
    released = omnimask.load(reference_fixtures / "fm", inputs=["rgb@224"], outputs=["tok_depth@224"])
    for key, value in released.state_dict().items():
        assert torch.equal(native.state_dict()[key], value), key
    src = reference_fixtures / "tokenizers" / "dinov2global_mlpvqvae"
    assert main(["convert", str(src), "--out", str(tmp_path / "tok")]) == 0
    assert isinstance(omnimask.load(tmp_path / "tok"), ModalityTokenizer)
