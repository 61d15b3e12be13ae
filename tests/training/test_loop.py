"""The training loop: it learns, resumes exactly, saves loadable checkpoints and refuses bad configs."""

import dataclasses
import json

import pytest
import torch
from stochastic_config import every_stochastic_option

from omnimask.config import ConfigError, apply_overrides, to_dict
from omnimask.model import FourM
from omnimask.training.loop import NonFiniteLossError, Trainer, train
from omnimask.training.metrics import read_metrics


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_resume_equals_uninterrupted(tiny_config, tmp_path):
    full = train(dataclasses.replace(tiny_config, out_dir=str(tmp_path / "full"), steps=6))
    half_cfg = dataclasses.replace(tiny_config, out_dir=str(tmp_path / "half"), steps=6)
    first = Trainer(half_cfg)
    first.total_steps = 3  # stop half-way, as an interrupted run would
    first.run()
    resumed = train(half_cfg, resume=True)
    assert resumed.state.step == 6 and resumed.state.samples_seen == 6 * tiny_config.batch_size
    a, b = _weights(full.model), _weights(resumed.model)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_checkpoint_loads_as_a_model_and_metrics_are_logged(tiny_config):
    trainer = train(tiny_config)
    model = FourM.from_pretrained(trainer.checkpoint_dir)
    for k, v in trainer.model.state_dict().items():
        assert torch.equal(model.state_dict()[k], v)
    records = read_metrics(trainer.out_dir / "metrics.jsonl")
    train_rows = [r for r in records if r["split"] == "train"]
    val_rows = [r for r in records if r["split"] == "val"]
    assert [r["step"] for r in train_rows] == list(range(1, 7))
    assert [r["step"] for r in val_rows] == [3, 6]
    assert all("loss/tok_a" in r for r in val_rows)
    saved = json.loads((trainer.checkpoint_dir / "train_config.json").read_text())
    assert saved == json.loads(json.dumps(to_dict(tiny_config)))


def test_overfits_one_batch(tiny_config):
    cfg = dataclasses.replace(tiny_config, steps=200,
                              optim=dataclasses.replace(tiny_config.optim, lr=1e-2, warmup_steps=5))
    trainer = Trainer(cfg)
    batch = next(trainer.data.train_batches(0, 8))
    first = None
    for _ in range(200):
        loss = trainer.train_step([batch])["loss"]
        first = first if first is not None else loss
        if loss < 0.1 * first:
            break
    assert loss < 0.1 * first, (first, loss)


def test_non_finite_losses_skip_then_abort(tiny_config, monkeypatch):
    trainer = Trainer(dataclasses.replace(tiny_config, max_bad_steps=2))
    batch = next(trainer.data.train_batches(0, 4))
    before = _weights(trainer.model)
    with torch.no_grad():
        trainer.model.mask_token.fill_(float("nan"))
    before["mask_token"] = trainer.model.mask_token.clone()
    assert trainer.train_step([batch])["skipped"]
    after = _weights(trainer.model)
    assert all(torch.equal(before[k], after[k]) or k == "mask_token" for k in before)
    with pytest.raises(NonFiniteLossError, match="consecutive steps"):
        trainer.train_step([batch])


@pytest.mark.parametrize(
    ("override", "message"),
    [("precision=fp16", "precision"), ("batch_size=0", "batch_size must be >= 1"),
     ("optim.schedule=step", "optim.schedule"), ("data.source=s3", "data.source"),
     ("model.size=XXL", "model.size"), ("masking.num_input_tokens=-1", "num_input_tokens"),
     ("optim.lr=inf", r"optim.lr = inf"), ("optim.lr=nan", r"optim.lr = nan"), ("optim.eps=-1e-8", "optim.eps"),
     ("optim.clip_grad=0", "optim.clip_grad"), ("optim.clip_grad=-1", "optim.clip_grad"),
     ("optim.weight_decay=-0.1", "optim.weight_decay"), ("optim.betas=[0.9,1.5]", "optim.betas"),
     ("optim.min_lr=inf", "optim.min_lr"), ("eval_every=-1", "eval_every must be >= 0"),
     ("save_every=-2", "save_every must be >= 0"), ("eval_batches=-1", "eval_batches must be >= 0"),
     ("log_every=0", "log_every must be >= 1")],
)
def test_bad_values_are_rejected_with_the_key(tiny_config, override, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(tiny_config, [override])


def test_a_run_without_validation_batches_evaluates_nothing_and_finishes(tiny_config):
    trainer = train(dataclasses.replace(tiny_config, steps=2, eval_every=1, eval_batches=0))
    assert {r["split"] for r in read_metrics(trainer.out_dir / "metrics.jsonl")} == {"train"}


def _interrupt_inside_step(trainer, step, where):
    """Send SIGINT while ``step`` (1-based) runs: before its forward pass, or halfway through the optimizer
    update (after the weights, before the schedule and the step counter)."""
    import signal

    calls = []
    real_step, real_update = trainer.train_step, trainer.optimizer.step

    def train_step(micro):
        calls.append(1)
        if len(calls) == step and where == "forward":
            signal.raise_signal(signal.SIGINT)
        return real_step(micro)

    def update(*args, **kwargs):
        out = real_update(*args, **kwargs)
        if len(calls) == step and where == "optimizer":
            signal.raise_signal(signal.SIGINT)
        return out

    trainer.train_step, trainer.optimizer.step = train_step, update


@pytest.mark.parametrize("where", ["forward", "optimizer"])
def test_ctrl_c_finishes_the_step_then_saves_exactly_what_an_uninterrupted_run_has(tiny_config, where):
    cfg = dataclasses.replace(tiny_config, steps=5, save_every=0, eval_every=0)
    trainer = Trainer(cfg)
    _interrupt_inside_step(trainer, 3, where)
    with pytest.raises(KeyboardInterrupt):
        trainer.run()
    resumed = Trainer(cfg)
    resumed.resume()
    assert resumed.state.step == 3 and resumed.state.samples_seen == 3 * cfg.batch_size
    resumed.run()
    straight = Trainer(dataclasses.replace(cfg, out_dir=str(cfg.out_dir) + "_straight"))
    straight.run()
    a, b = _weights(resumed.model), _weights(straight.model)
    assert all(torch.equal(a[k], b[k]) for k in a)


def _run_state(trainer):
    """Everything a run carries from step to step: weights, optimizer, schedule and counters (compare
    two with ``assert_close(rtol=0, atol=0)``: equal bit for bit)."""
    return {"model": trainer.model.state_dict(), "optimizer": trainer.optimizer.state_dict(),
            "scheduler": trainer.scheduler.state_dict(), "counters": dataclasses.asdict(trainer.state)}


def _dies_in_step(trainer, step):
    """Make ``trainer`` die inside ``step`` (1-based) like kill -9: nothing is saved after the last checkpoint."""
    real_step, calls = trainer.train_step, []

    def train_step(micro):
        calls.append(1)
        if len(calls) == step:
            raise KeyboardInterrupt  # inside the step: the loop saves nothing
        return real_step(micro)

    trainer.train_step = train_step


def test_a_run_killed_after_a_checkpoint_resumes_exactly_with_every_stochastic_option(tiny_config, store_writer,
                                                                                      tmp_path):
    pytest.importorskip("peft")  # LoRA
    noisy = every_stochastic_option(tiny_config, store_writer(tmp_path / "store2", seed=1), image="tok_a",
                                    others=("tok_b", "caption"), budget=(6, 14), workers=1)
    cfg = dataclasses.replace(noisy, steps=4, save_every=2, eval_every=3)
    straight = Trainer(dataclasses.replace(cfg, out_dir=str(cfg.out_dir) + "_straight"))
    straight.run()
    killed = Trainer(cfg)
    _dies_in_step(killed, 4)  # step 3 (and its evaluation) ran after the step-2 checkpoint and is lost
    with pytest.raises(KeyboardInterrupt):
        killed.run()
    resumed = Trainer(cfg)
    resumed.resume()
    assert resumed.state.step == 2
    resumed.run()
    torch.testing.assert_close(_run_state(resumed), _run_state(straight), rtol=0, atol=0)
    assert any("lora_A" in k for k in resumed.model.state_dict())


def test_metrics_after_a_kill_hold_each_step_once(tiny_config):
    cfg = dataclasses.replace(tiny_config, steps=6, save_every=3, eval_every=2)
    killed = Trainer(cfg)
    _dies_in_step(killed, 6)  # steps 4 and 5 (and the val row of step 4) are logged after the step-3 checkpoint
    with pytest.raises(KeyboardInterrupt):
        killed.run()
    with (killed.out_dir / "metrics.jsonl").open("a") as f:
        f.write('{"step": 6, "split": "tr')  # and a line torn by a kill in the middle of a write
    train(cfg, resume=True)
    records = read_metrics(killed.out_dir / "metrics.jsonl")
    assert [r["step"] for r in records if r["split"] == "train"] == [1, 2, 3, 4, 5, 6]
    assert [r["step"] for r in records if r["split"] == "val"] == [2, 4, 6]
