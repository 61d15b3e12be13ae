"""A run folder is never silently replaced or mixed: --overwrite to replace, --resume only with the same config."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from omnimask.config import ConfigError
from omnimask.training.loop import train
from omnimask.training.optim import OptimConfig
from omnimask.training.runs import config_changes, prepare_run


def test_an_existing_run_is_refused_unless_resumed_or_overwritten(tiny_config):
    cfg = dataclasses.replace(tiny_config, steps=2, save_every=0, eval_every=0)
    assert prepare_run(cfg) == []  # a fresh folder
    train(cfg)
    with pytest.raises(ConfigError, match=r"already holds a run.*--resume.*--overwrite"):
        prepare_run(cfg)
    assert prepare_run(cfg, resume=True) == []  # the same config resumes
    longer = dataclasses.replace(cfg, steps=4)
    assert prepare_run(longer, resume=True) == ["resume: steps 2 -> 4"]
    changed = dataclasses.replace(cfg, optim=dataclasses.replace(cfg.optim, lr=0.5))
    with pytest.raises(ConfigError, match=r"optim.lr: 0.003 in the checkpoint, 0.5 now"):
        prepare_run(changed, resume=True)
    prepare_run(cfg, overwrite=True)
    assert not (Path(cfg.out_dir) / "checkpoint").exists() and not (Path(cfg.out_dir) / "metrics.jsonl").exists()
    with pytest.raises(ConfigError, match="no checkpoint to continue"):
        prepare_run(cfg, resume=True)


def test_config_changes_lists_every_differing_field():
    a, b = {"optim": {"lr": 1.0, "betas": [0.9, 0.95]}, "steps": 3}, {"optim": {"lr": 2.0, "betas": [0.9, 0.95]}}
    assert config_changes(a, b) == {"optim.lr": (1.0, 2.0), "steps": (3, None)}
    assert OptimConfig().clip_grad > 0


def test_the_train_command_refuses_to_write_over_a_run(tmp_path, capsys):
    from omnimask.cli import main

    (tmp_path / "metrics.jsonl").write_text('{"step": 1}\n')
    assert main(["train", "--recipe", "synth_tiny", "--out", str(tmp_path)]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (tmp_path / "metrics.jsonl").read_text() == '{"step": 1}\n'  # untouched
    assert main(["finetune", "--task", "object_count", "--out", str(tmp_path)]) == 2


def test_a_resume_after_a_kill_between_the_renames_continues(tiny_config):
    import shutil

    from omnimask.files import COMPLETE_MARK
    from omnimask.training.loop import Trainer

    cfg = dataclasses.replace(tiny_config, steps=2, save_every=0, eval_every=0)
    Trainer(cfg).run()
    ckpt = Path(cfg.out_dir) / "checkpoint"
    shutil.copytree(ckpt, ckpt.with_name("checkpoint.partial"))
    (ckpt.with_name("checkpoint.partial") / COMPLETE_MARK).touch()
    ckpt.rename(ckpt.with_name("checkpoint.old"))
    resumed = Trainer(cfg)
    resumed.resume()
    assert resumed.state.step == 2
