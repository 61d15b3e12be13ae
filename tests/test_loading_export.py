"""Inference exports of trained models (omnimask.loading.export_model)."""

import json
import shutil

import pytest
import torch

from omnimask.loading import export_model
from omnimask.model import FourM, ModelConfig
from omnimask.model.checkpoint import load_pretrained, save_pretrained
from omnimask.tokenizers.bundle import load_tokenizers, shipped_bundle_path


@pytest.fixture
def checkpoint(tmp_path):
    model = FourM(ModelConfig(size="tiny", modality_set="synthworld", outputs=["tok_depth@64", "caption"]))
    folder = save_pretrained(model, tmp_path / "checkpoint")
    shipped = shipped_bundle_path()
    tokenizers = folder / "tokenizers"
    shutil.copytree(shipped / "depth", tokenizers / "depth")
    shutil.copytree(shipped / "text", tokenizers / "text")
    shutil.copytree(shipped / "rgb", tokenizers / "own_rgb")  # a tokenizer of the run's own ...
    card = json.loads((shipped / "rgb" / "config.json").read_text())  # ... that differs from the shipped one
    (tokenizers / "own_rgb" / "config.json").write_text(json.dumps(card))
    manifest = json.loads((shipped / "manifest.json").read_text())
    manifest = {"tok_depth@64": manifest["tok_depth@64"], "caption": manifest["caption"],
                "tok_rgb@64": {**manifest["tok_rgb@64"], "path": "own_rgb"}}
    (tokenizers / "manifest.json").write_text(json.dumps(manifest))
    return model, folder


def test_export_halves_weights_and_references_identical_shipped_tokenizers(checkpoint, tmp_path):
    model, folder = checkpoint
    out = export_model(folder, tmp_path / "export")
    assert (out / "model.safetensors").stat().st_size < 0.55 * (folder / "model.safetensors").stat().st_size
    manifest = json.loads((out / "tokenizers" / "manifest.json").read_text())
    paths = {name: entry["path"] for name, entry in manifest.items()}
    assert paths == {"tok_depth@64": "shipped:synthworld64/depth", "caption": "shipped:synthworld64/text",
                     "tok_rgb@64": "own_rgb"}
    assert sorted(p.name for p in (out / "tokenizers").iterdir()) == ["manifest.json", "own_rgb"]
    assert set(load_tokenizers(out)) == set(manifest)
    loaded = load_pretrained(out)
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert b.dtype == a.dtype, name
        torch.testing.assert_close(b, a.half().to(a.dtype), rtol=0, atol=0)


def test_export_copies_everything_on_request_and_rejects_non_models(checkpoint, tmp_path):
    _, folder = checkpoint
    out = export_model(folder, tmp_path / "copy", dtype="float32", shipped=None)
    assert sorted(p.name for p in (out / "tokenizers").iterdir()) == ["depth", "manifest.json", "own_rgb", "text"]
    with pytest.raises(FileNotFoundError, match="checkpoint/ folder"):
        export_model(tmp_path, tmp_path / "nothing")
