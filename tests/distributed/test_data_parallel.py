"""DDP and FSDP2 on two gloo ranks train exactly like one process with the same global batch.

Two ranks with ``grad_accum=2`` see the blocks of samples that one process with ``grad_accum=4``
sees; both average micro-batch losses, so losses, gradients and weights agree to float tolerance.
Checkpoints are written in the single-process layout and resume in another world size.
"""

import dataclasses
import json

import pytest
import torch
from safetensors.torch import load_file
from stochastic_config import every_stochastic_option

from omnimask.model import FourM
from omnimask.training.loop import Trainer, train
from omnimask.training.metrics import read_metrics
from omnimask.training.optim import lr_factor


def _single(cfg, out_dir, grad_accum=4):
    return dataclasses.replace(
        cfg, out_dir=str(out_dir), grad_accum=grad_accum, parallel=dataclasses.replace(cfg.parallel, strategy="none")
    )


def _strategy(cfg, out_dir, strategy):
    return dataclasses.replace(cfg, out_dir=str(out_dir), parallel=dataclasses.replace(cfg.parallel, strategy=strategy))


def _full(t):
    return t.full_tensor() if hasattr(t, "full_tensor") else t


def _train_and_save_grads(rank, cfg, grads_path, stop_at):
    trainer = Trainer(cfg)
    if stop_at:
        trainer.total_steps = stop_at  # an interrupted run
    try:
        trainer.run()
        grads = {n: _full(p.grad).detach().clone() for n, p in trainer.module.named_parameters() if p.grad is not None}
        if rank == 0:
            torch.save(grads, grads_path)
    finally:
        trainer.close()


def _losses(out_dir):
    return [r["loss"] for r in read_metrics(out_dir / "metrics.jsonl") if r["split"] == "train"]


def _weights(out_dir):
    return load_file(str(out_dir / "checkpoint" / "model.safetensors"))


def _assert_close_states(a, b, atol):
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=atol, msg=lambda m, k=k: f"{k}: {m}")


def _check_matches_single(tiny_run, tmp_path, strategy, run_ranks):
    reference = train(_single(tiny_run, tmp_path / "one"))
    ref_grads = {n: p.grad for n, p in reference.model.named_parameters() if p.grad is not None}
    cfg = _strategy(tiny_run, tmp_path / strategy, strategy)
    run_ranks(_train_and_save_grads, 2, cfg, tmp_path / "grads.pt", 0)
    assert _losses(tmp_path / strategy) == pytest.approx(_losses(tmp_path / "one"), rel=1e-5)
    _assert_close_states(torch.load(tmp_path / "grads.pt"), ref_grads, atol=1e-6)
    _assert_close_states(_weights(tmp_path / strategy), _weights(tmp_path / "one"), atol=1e-5)
    records = read_metrics(tmp_path / strategy / "metrics.jsonl")
    assert [r["step"] for r in records] == [1, 2, 3, 4]  # rank 0 alone writes
    peak = 1.5e-3 * 16 / 8  # the configured lr, scaled by the global batch
    expected = [peak * lr_factor(step, 4, tiny_run.optim, peak) for step in (1, 2, 3, 4)]
    assert [r["lr"] for r in records] == pytest.approx(expected, rel=1e-9)
    assert all("loss/tok_x" in r for r in records)
    state = torch.load(tmp_path / strategy / "checkpoint" / "train_state.pt", weights_only=True)
    assert state["state"]["samples_seen"] == 4 * 16 and state["state"]["step"] == 4
    return reference


def test_ddp_two_ranks_match_one_process(tiny_run, tmp_path, ranks):
    _check_matches_single(tiny_run, tmp_path, "ddp", ranks)


@pytest.mark.slow  # ~8 s on 2 cores: FSDP2 start-up (device mesh, per-block shards) on two forked ranks
def test_fsdp_two_ranks_match_one_process(tiny_run, tmp_path, ranks):
    reference = _check_matches_single(tiny_run, tmp_path, "fsdp", ranks)
    model = FourM.from_pretrained(tmp_path / "fsdp" / "checkpoint")  # the gathered export loads single-process
    _assert_close_states(model.state_dict(), reference.model.state_dict(), atol=1e-5)


@pytest.mark.slow  # ~10 s: two forked 2-rank runs plus two single-process runs
@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_resume_across_world_sizes(tiny_run, tmp_path, strategy, ranks):
    """2 ranks train 2 steps; one process finishes; and the other way round — both equal 4 uninterrupted steps."""
    full = train(_single(tiny_run, tmp_path / "full"))
    two_then_one = _strategy(tiny_run, tmp_path / "a", strategy)
    ranks(_train_and_save_grads, 2, two_then_one, tmp_path / "g.pt", 2)
    finished = train(_single(tiny_run, tmp_path / "a"), resume=True)
    assert finished.state.step == 4 and finished.state.samples_seen == 64
    _assert_close_states(_weights(tmp_path / "a"), _weights(tmp_path / "full"), atol=1e-5)

    first = Trainer(_single(tiny_run, tmp_path / "b"))
    first.total_steps = 2
    first.run()
    ranks(_resume_ranks, 2, _strategy(tiny_run, tmp_path / "b", strategy))
    _assert_close_states(_weights(tmp_path / "b"), _weights(tmp_path / "full"), atol=1e-5)
    assert json.loads((tmp_path / "b" / "checkpoint" / "train_config.json").read_text())["grad_accum"] == 2
    del full


def _resume_ranks(rank, cfg):
    train(cfg, resume=True)


def test_a_fine_tune_on_two_ranks_matches_one_process(tiny_run, tmp_path, ranks):
    """The fine-tuning path (a head on a partially loaded, partly frozen backbone) under DDP: the
    unused decoder and the frozen block do not put the ranks' all-reduces out of step."""
    import numpy as np

    from omnimask.data.sources import label_path
    from omnimask.data.token_store import TokenStore
    from omnimask.model import ModelConfig
    from omnimask.model.heads import HeadConfig

    store = tmp_path / "store"
    tokens = TokenStore.load(store / "train")
    labels = np.array([int(tokens[i]["tok_x"][0]) % 2 for i in range(len(tokens))])
    label_path(store / "train", "parity").parent.mkdir(parents=True)
    np.save(label_path(store / "train", "parity"), labels)
    folder = FourM(ModelConfig(size="tiny", modality_set=None, modality_overrides=tiny_run.model.modality_overrides,
                               init_seed=3)).save_pretrained(tmp_path / "pretrained")
    cfg = dataclasses.replace(tiny_run, init_from=str(folder), freeze=["fourm.encoder.0.*"],
                              head=HeadConfig(kind="classification", task="parity", inputs=["tok_x", "tok_y"],
                                              num_classes=2),
                              data=dataclasses.replace(tiny_run.data, task="parity"))
    train(_single(cfg, tmp_path / "one"))
    ranks(_train_and_save_grads, 2, _strategy(cfg, tmp_path / "ddp", "ddp"), tmp_path / "grads.pt", 0)
    assert _losses(tmp_path / "ddp") == pytest.approx(_losses(tmp_path / "one"), rel=1e-5)
    _assert_close_states(_weights(tmp_path / "ddp"), _weights(tmp_path / "one"), atol=1e-5)


def _killed_in_step(rank, cfg, step):
    """Train until ``step`` (1-based), then die inside it like kill -9 (nothing saved after the last checkpoint)."""
    trainer = Trainer(cfg)
    real_step, calls = trainer.train_step, []

    def train_step(micro):
        calls.append(1)
        if len(calls) == step:
            raise KeyboardInterrupt  # inside the step, on every rank: the loop saves nothing
        return real_step(micro)

    trainer.train_step = train_step
    try:
        trainer.run()
    except KeyboardInterrupt:
        pass
    finally:
        trainer.close()


def _training_state(out_dir):
    """The final checkpoint's weights and its optimizer, schedule, counters and RNG states."""
    state = torch.load(out_dir / "checkpoint" / "train_state.pt", weights_only=True)
    return {"weights": _weights(out_dir), **state}


@pytest.mark.parametrize("strategy", ["ddp", pytest.param("fsdp", marks=pytest.mark.slow)])  # fsdp: ~6 s alone
def test_two_ranks_killed_after_a_checkpoint_resume_exactly_with_every_stochastic_option(tiny_run, tmp_path, ranks,
                                                                                         store_writer, strategy):
    """2 ranks killed inside step 4 (step 3 ran after the step-2 checkpoint) and resumed equal 2 ranks run
    straight through, bit for bit."""
    pytest.importorskip("peft")  # LoRA; imported here once, before the ranks fork
    noisy = every_stochastic_option(tiny_run, store_writer(tmp_path / "store2", seed=1), image="tok_x",
                                    others=("tok_y", "caption"), budget=(3, 8))
    noisy = dataclasses.replace(noisy, save_every=2)
    ranks(_train_and_save_grads, 2, _strategy(noisy, tmp_path / "straight", strategy), tmp_path / "g1.pt", 0)
    ranks(_killed_in_step, 2, _strategy(noisy, tmp_path / "resumed", strategy), 4)
    assert torch.load(tmp_path / "resumed" / "checkpoint" / "train_state.pt")["state"]["step"] == 2
    ranks(_resume_ranks, 2, _strategy(noisy, tmp_path / "resumed", strategy))
    torch.testing.assert_close(_training_state(tmp_path / "resumed"), _training_state(tmp_path / "straight"),
                               rtol=0, atol=0)
