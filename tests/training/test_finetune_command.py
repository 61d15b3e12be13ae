"""``omnimask finetune``: a released 4M fine-tunes through compat, and bad input is a clear error."""

import json

import pytest
from reference_paths import FIXTURES

from omnimask.cli import main
from omnimask.loading import shipped_model_path
from omnimask.model import load_pretrained
from omnimask.model.heads import TaskModel
from omnimask.recipes.finetune import METHODS, finetune_config
from omnimask.training.setup import build_model

RELEASED = FIXTURES / "fm"
TINY_DATA = ["--steps", "2", "--set", "data.num_train=8", "--set", "data.num_val=4", "--set", "batch_size=4",
             "--set", "eval_batches=1"]


def _error(capsys, *argv):
    assert main(["finetune", *argv]) == 2
    return capsys.readouterr().err


@pytest.mark.skipif(not (RELEASED / "config.json").is_file(), reason="no released 4M fixture")
def test_a_released_4m_fine_tunes_through_compat(tmp_path, capsys):
    assert main(["finetune", "--from", str(RELEASED), "--task", "object_count", "--out", str(tmp_path / "ft"),
                 *TINY_DATA]) == 0
    report = json.loads((tmp_path / "ft" / "init_report.json").read_text())
    released = json.loads((RELEASED / "config.json").read_text())
    assert report["new"] == ["head.norm.weight", "head.norm.bias", "head.proj.weight", "head.proj.bias"]
    assert not report["dropped"] and report["loaded"]
    model = load_pretrained(tmp_path / "ft" / "checkpoint")
    assert isinstance(model, TaskModel) and model.config.model.dim == released["dim"]
    assert model.inputs == [n for n in released["domains_in"] if n.startswith("rgb@")]
    depth = _error(capsys, "--from", str(RELEASED), "--task", "height", "--inputs", "rgb,depth", "--out",
                   str(tmp_path / "x"))
    assert "need tokenizers" in depth and "data.tokenizers" in depth  # the fixture ships none


def test_bad_input_names_what_to_do(tmp_path, capsys):
    out = ["--out", str(tmp_path / "run")]
    assert "unknown task 'colour_of_sky'" in _error(capsys, "--task", "colour_of_sky", *out)
    assert "not a checkpoint omnimask recognises" in _error(capsys, "--from", str(tmp_path), "--task", "height", *out)
    assert "does not exist" in _error(capsys, "--from", str(tmp_path / "nothing"), "--task", "height", *out)
    err = _error(capsys, "--task", "height", "--inputs", "rgb,instance", *out)
    assert "unknown modality 'instance'" in err and "modality_overrides" in err and "data.tokenizers" in err
    assert "unknown method 'half'" in _error(capsys, "--task", "height", "--method", "half", *out)
    assert "give --task TASK and --out DIR" in _error(capsys)


def test_list_tasks(capsys):
    assert main(["finetune", "--list-tasks"]) == 0
    listed = capsys.readouterr().out
    assert all(task in listed for task in ("object_count", "largest_color", "light_direction", "occlusion_order",
                                           "height"))


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_trains_what_it_says(method, tmp_path):
    if method == "lora":
        pytest.importorskip("peft")
    cfg = finetune_config(shipped_model_path(), "object_count", tmp_path / method, method=method)
    model, report = build_model(cfg)
    assert report is not None and all(k.startswith("head.") for k in report.new)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable
    if method == "linear":
        assert all(n.startswith("head.") for n in trainable)
    elif method == "frozen-encoder":
        assert not any(n.startswith(("fourm.encoder.", "fourm.encoder_norm.")) for n in trainable)
        assert any(n.startswith("fourm.encoder_embeddings.") for n in trainable)
    elif method == "lora":
        assert all("lora_" in n or n.startswith("head.") for n in trainable)
    else:
        assert trainable == {n for n, _ in model.named_parameters()}
    assert cfg.optim.lr == METHODS[method].lr
