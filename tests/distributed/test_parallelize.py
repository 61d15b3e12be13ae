"""parallelize and its pieces in one process: rank blocks, activation checkpointing, FSDP2 on one
rank, configuration errors."""

import dataclasses

import pytest
import torch

from omnimask.config import ConfigError, apply_overrides
from omnimask.data.stream import RankBlockSampler
from omnimask.training import distributed
from omnimask.training.config import ParallelConfig
from omnimask.training.loop import Trainer


def _blocks(world, accum, batch=2, start=10, steps=2):
    """Per step, the sets of sample indices each micro-batch covers, over all ranks."""
    per_rank = [list(zip(range(accum * steps), RankBlockSampler(batch, start, r, world, accum))) for r in range(world)]
    return [sorted(tuple(ids) for r in range(world) for k, ids in per_rank[r] if k // accum == s) for s in range(steps)]


def test_rank_blocks_do_not_depend_on_how_the_global_batch_is_split():
    assert _blocks(1, 4) == _blocks(2, 2) == _blocks(4, 1)
    assert _blocks(1, 4)[1] == [(18, 19), (20, 21), (22, 23), (24, 25)]
    assert [b for b, _ in zip(RankBlockSampler(3, 5), range(3))] == [[5, 6, 7], [8, 9, 10], [11, 12, 13]]
    assert [b for b, _ in zip(RankBlockSampler(2, 0, rank=1, world_size=2, grad_accum=2), range(3))] == [
        [4, 5],
        [6, 7],
        [12, 13],
    ]
    with pytest.raises(ValueError, match="outside a world"):
        RankBlockSampler(2, 0, rank=2, world_size=2)


def test_activation_checkpointing_keeps_losses_and_gradients(tiny_run):
    plain = Trainer(tiny_run)
    checkpointed = Trainer(
        dataclasses.replace(tiny_run, parallel=dataclasses.replace(tiny_run.parallel, activation_checkpointing=True))
    )
    assert checkpointed.model is checkpointed.module  # strategy none: no wrapper
    batch = next(plain.data.train_batches(0, 4))
    losses = [t.model(batch).loss for t in (plain, checkpointed)]
    for loss in losses:
        loss.backward()
    assert torch.equal(losses[0], losses[1])
    for (name, a), b in zip(plain.model.named_parameters(), checkpointed.model.parameters()):
        assert (a.grad is None) == (b.grad is None), name
        if a.grad is not None:
            torch.testing.assert_close(a.grad, b.grad, rtol=0, atol=1e-7, msg=name)


def test_fsdp_on_one_process_trains_like_no_wrapper(tiny_run, tmp_path):
    runs = {}
    for strategy in ("none", "fsdp"):
        cfg = dataclasses.replace(
            tiny_run,
            out_dir=str(tmp_path / strategy),
            steps=2,
            parallel=dataclasses.replace(tiny_run.parallel, strategy=strategy),
        )
        trainer = Trainer(cfg)
        assert trainer.dist.owns_group == (strategy == "fsdp") and trainer.world_size == 1
        batches = trainer.data.train_batches(0, 4)
        runs[strategy] = [trainer.train_step([next(batches)])["loss"] for _ in range(2)]
        trainer.save()
        trainer.close()
        assert not torch.distributed.is_initialized()
    assert runs["fsdp"] == pytest.approx(runs["none"], rel=1e-6)


def test_bad_parallel_settings_are_refused(tiny_run, monkeypatch):
    with pytest.raises(ConfigError, match=r"parallel\.strategy"):
        apply_overrides(tiny_run, ["parallel.strategy=zero3"])
    with pytest.raises(ConfigError, match=r"parallel\.param_dtype"):
        apply_overrides(tiny_run, ["parallel.param_dtype=fp16"])
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match="strategy=none but 2 processes"):
        distributed.setup(ParallelConfig(strategy="none"))


def test_cpu_offload_is_refused_on_a_cpu_run(tiny_run):
    model = torch.nn.Linear(2, 2)
    ctx = distributed.DistContext(strategy="fsdp")
    with pytest.raises(ConfigError, match="cpu_offload"):
        distributed.parallelize(model, ParallelConfig(strategy="fsdp", cpu_offload=True), ctx)


def test_rank_seeds_differ_by_rank_and_step_and_repeat():
    seeds = {distributed.rank_seed(0, r, s) for r in range(4) for s in range(4)}
    assert len(seeds) == 16 and distributed.rank_seed(0, 1, 2) == distributed.rank_seed(0, 1, 2)
    assert all(0 <= s < 2**63 for s in seeds)
