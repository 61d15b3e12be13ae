"""The one training loop of omnimask (4M's multimodal masked-modelling objective).

``train(cfg)`` builds the model, the data stream and the optimizer from a :class:`TrainConfig` and
runs to the step budget with gradient accumulation, clipping, bf16 autocast (CPU and GPU), periodic
validation per modality, JSONL metrics, a progress bar (loss, tokens/s, ETA) and atomic checkpoints.

Exact resumption: an indexable data stream (synth, store and their mixtures) is a pure function of
(seed, global sample index) and each step seeds its own randomness from (seed, rank, step)
(:func:`seed_step`), so a resumed run restores weights, optimizer and scheduler and continues at the
sample where it stopped; k steps + resume + k steps equals 2k uninterrupted steps bit for bit. A shard
stream cannot be indexed: it resumes on a fresh stream seeded by the samples seen
(:mod:`omnimask.data.stream_samples`), reproducibly but not as the uninterrupted run. Ctrl-C saves a
checkpoint and exits cleanly. A non-finite loss skips the step (logged); ``max_bad_steps``
consecutive ones abort the run with a clear message.

Under ``torchrun`` the same loop runs on every rank (:mod:`omnimask.training.distributed`): the model
is wrapped by ``cfg.parallel``, each rank reads its own blocks of the global sample stream, losses and
token counts are averaged / summed over ranks, and only rank 0 logs, shows progress and writes
checkpoints (gathered into the single-process layout, so they load in any world size).
"""

from __future__ import annotations

import math
import random
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from omnimask.batch import Batch, batch_to
from omnimask.files import recover_dir
from omnimask.precision import autocast_context, describe
from omnimask.progress import tqdm
from omnimask.training import distributed
from omnimask.training.checkpoint import TrainState, load_training_state, read_weights, save_checkpoint
from omnimask.training.config import TrainConfig
from omnimask.training.curves import write_loss_curves
from omnimask.training.metrics import METRICS_NAME, MetricsLog, drop_after
from omnimask.training.optim import build_optimizer, build_scheduler
from omnimask.training.setup import build_data, build_model
from omnimask.training.transfer import describe as describe_transfer


class NonFiniteLossError(RuntimeError):
    """Raised after too many consecutive steps with a NaN or infinite loss."""


class StepBoundary:
    """Ctrl-C (SIGINT) ends a run at a step boundary: the first one lets the running step finish (the
    loop then saves and stops), a second one stops at once without saving (the step is half-applied).

    Under torchrun the ranks agree (an all-reduce of the flag each step) so that all stop after the same
    step. Outside the main thread signals cannot be caught and nothing changes.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)

    def restore(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        tqdm.write("interrupt: finishing this step, then saving (Ctrl-C again stops at once, without saving)")

    def stop(self, world_size: int, device: torch.device) -> bool:
        """Whether the run stops now (on every rank alike)."""
        if world_size == 1:
            return self.requested
        flag = torch.tensor(float(self.requested), device=device)
        return bool(distributed.all_reduce(flag, "sum").item() > 0)


def seed_step(seed: int) -> None:
    """Seed every global generator a step may draw from: torch's (drop-path, dropout; CPU and GPU), Python's
    ``random`` and NumPy's legacy one (for any library that uses them), so none carries state across steps."""
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


def count_target_tokens(batch: Batch) -> int:
    """Number of decoder targets in a batch (the quantity 4M's token budgets count)."""
    return int(sum(mb.target_keep.sum() for mb in batch.values()))


def count_input_tokens(batch: Batch) -> int:
    return int(sum(mb.input_keep.sum() for mb in batch.values()))


@torch.no_grad()
def evaluate(model: torch.nn.Module, batches: Iterator[Batch], device: torch.device, precision: str) -> dict:
    """Mean total and per-modality validation loss (and any ``metric/<name>`` the model reports) over ``batches``."""
    was_training = model.training
    model.eval()
    totals: dict[str, float] = {}
    counts: dict[str, int] = {}
    for batch in batches:
        with autocast_context(device, precision):
            out = model(batch_to(batch, device))
        per_modality = {f"loss/{k}": v for k, v in out.loss_per_modality.items()}
        metrics = {f"metric/{k}": v for k, v in out.metrics.items()}
        for name, value in {"loss": out.loss, **per_modality, **metrics}.items():
            totals[name] = totals.get(name, 0.0) + float(value)
            counts[name] = counts.get(name, 0) + 1
    model.train(was_training)
    return {name: totals[name] / counts[name] for name in totals}


class Trainer:
    """Holds the live objects of one run; :meth:`run` trains to the budget."""

    def __init__(self, cfg: TrainConfig, device: torch.device | str | None = None) -> None:
        self.cfg = cfg
        self.dist = distributed.setup(cfg.parallel, device)
        self.device = self.dist.device
        self.out_dir = Path(cfg.out_dir)
        torch.manual_seed(cfg.seed)
        module, self.init_report = build_model(cfg)
        self.module = module.to(self.device)
        self.model = distributed.parallelize(self.module, cfg.parallel, self.dist)
        with distributed.main_process_first(self.dist):  # rank 0 writes any data cache, the others read it
            self.data = build_data(cfg)
        global_batch = cfg.global_batch(self.dist.world_size)
        self.total_steps = cfg.total_steps(self.data.tokens_per_sample, self.dist.world_size)
        self.optimizer = build_optimizer(self.module, cfg.optim, global_batch)
        self.scheduler = build_scheduler(self.optimizer, cfg.optim, self.total_steps, global_batch)
        self.state = TrainState()
        self.bad_in_a_row = 0

    @property
    def world_size(self) -> int:
        return self.dist.world_size

    def close(self) -> None:
        """Leave the process group this trainer joined (a no-op for single-process runs)."""
        distributed.teardown(self.dist)

    @property
    def checkpoint_dir(self) -> Path:
        return self.out_dir / "checkpoint"

    def resume(self, directory: str | Path | None = None) -> None:
        """Continue from a checkpoint directory (default: this run's latest); metrics logged after its step
        (by a run killed since) are dropped, as the steps run again."""
        directory = Path(directory) if directory is not None else self.checkpoint_dir
        if self.dist.is_main:
            recover_dir(directory)  # a kill inside a save: the newest complete copy takes its place
        distributed.barrier()
        distributed.load_model_state(self.model, read_weights(directory))
        self.state = load_training_state(
            directory, self.optimizer, self.scheduler,
            load_optimizer=lambda state: distributed.load_optimizer_state(self.model, self.optimizer, state),
        )
        if self.dist.is_main:
            drop_after(self.out_dir / METRICS_NAME, self.state.step)

    def save(self) -> Path:
        """Write the checkpoint (sharded states are gathered first, so every rank calls this; rank 0 writes)."""
        weights = distributed.full_model_state(self.model)
        optimizer = distributed.full_optimizer_state(self.model, self.optimizer)
        if self.dist.is_main:
            save_checkpoint(self.checkpoint_dir, self.module, self.cfg, self.optimizer, self.scheduler, self.state,
                            tokenizers=self.data.tokenizer_dir, weights=weights, optimizer_state=optimizer)
        distributed.barrier()
        return self.checkpoint_dir

    def _reduce_metrics(self, loss: float, per_mod: dict[str, float]) -> tuple[float, dict[str, float]]:
        """Average the step's loss and per-modality losses over ranks (every rank gets the same values)."""
        if self.world_size == 1:
            return loss, per_mod
        names = self.module.output_modalities
        values = torch.tensor([loss] + [per_mod.get(n, 0.0) for n in names] + [float(n in per_mod) for n in names],
                              dtype=torch.float64, device=self.device)
        means = distributed.all_reduce(values, "mean").tolist()
        seen = means[1 + len(names):]
        return means[0], {n: v for n, v, s in zip(names, means[1:1 + len(names)], seen) if s > 0}

    def train_step(self, micro_batches: list[Batch]) -> dict:
        """One optimizer step over ``grad_accum`` micro-batches; returns the step's metrics."""
        cfg = self.cfg
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        timings = {"forward": 0.0, "backward": 0.0}
        loss_sum = 0.0
        per_mod: dict[str, float] = {}
        for i, batch in enumerate(micro_batches):
            batch = batch_to(batch, self.device)
            t0 = time.perf_counter()
            with distributed.gradient_sync(self.model, i == len(micro_batches) - 1):
                with autocast_context(self.device, cfg.precision):
                    out = self.model(batch)
                t1 = time.perf_counter()
                (out.loss / len(micro_batches)).backward()
            timings["forward"] += t1 - t0
            timings["backward"] += time.perf_counter() - t1
            loss_sum += float(out.loss.detach())
            for name, value in out.loss_per_modality.items():
                per_mod[name] = per_mod.get(name, 0.0) + float(value.detach()) / len(micro_batches)
        loss, per_mod = self._reduce_metrics(loss_sum / len(micro_batches), per_mod)
        t2 = time.perf_counter()
        finite = math.isfinite(loss)
        grad_norm = float("nan")
        if finite:
            grad_norm = distributed.clip_grad_norm(self.model, cfg.optim.clip_grad)
            finite = math.isfinite(grad_norm)
        if finite:
            self.optimizer.step()
            self.scheduler.step()  # a skipped step does not advance the schedule
            self.bad_in_a_row = 0
        else:
            self.state.skipped_steps += 1
            self.bad_in_a_row += 1
            if self.bad_in_a_row >= cfg.max_bad_steps:
                raise NonFiniteLossError(
                    f"{self.bad_in_a_row} consecutive steps had a non-finite loss or gradient (last loss {loss}); "
                    "lower optim.lr, raise optim.warmup_steps or use precision=fp32"
                )
        timings["optimizer"] = time.perf_counter() - t2
        return {"loss": loss, "grad_norm": grad_norm, "skipped": not finite,
                "lr": max(g["lr"] for g in self.optimizer.param_groups), **{f"loss/{k}": v for k, v in per_mod.items()},
                **{f"time/{k}": v for k, v in timings.items()}}

    def run(self) -> TrainState:
        """Train until the step budget is spent; checkpoint on the way, at the end and on Ctrl-C."""
        cfg = self.cfg
        main = self.dist.is_main
        self.out_dir.mkdir(parents=True, exist_ok=True)
        log = MetricsLog(self.out_dir, tensorboard=cfg.tensorboard, resumed_at=self.state.step) if main else None
        if main and self.state.step == 0 and (cfg.init_from or cfg.freeze or cfg.lora.rank):
            if self.init_report is not None:
                self.init_report.save(self.out_dir / "init_report.json")
            tqdm.write(describe_transfer(self.init_report, self.module))
        if main:
            tqdm.write(f"train: {describe(cfg.precision, self.device)}")
        stream = self.data.train_batches(start_sample=self.state.samples_seen, batch_size=cfg.batch_size,
                                         rank=self.dist.rank, world_size=self.world_size, grad_accum=cfg.grad_accum)
        bar = tqdm(total=self.total_steps, initial=self.state.step, desc="train", unit="step",
                   disable=not (cfg.progress and main), dynamic_ncols=True)
        interrupt, boundary = StepBoundary(), True
        try:
            interrupt.install()
            while self.state.step < self.total_steps:
                boundary = False
                # the step's randomness (drop-path, dropout) is a function of (seed, rank, step) alone, so a
                # resumed run repeats it exactly whatever ran in between (evaluation, checkpointing)
                seed_step(distributed.rank_seed(cfg.seed, self.dist.rank, self.state.step))
                t0 = time.perf_counter()
                micro = [next(stream) for _ in range(cfg.grad_accum)]
                data_time = time.perf_counter() - t0
                metrics = self.train_step(micro)
                step_time = time.perf_counter() - t0
                tokens = sum(count_target_tokens(b) + count_input_tokens(b) for b in micro)
                if self.world_size > 1:
                    total = distributed.all_reduce(torch.tensor(float(tokens), device=self.device), "sum")
                    tokens = round(float(total))
                self.state.step += 1
                self.state.samples_seen += cfg.global_batch(self.world_size)
                self.state.tokens_seen += tokens
                metrics.update({"time/data": data_time, "tokens_per_s": tokens / step_time})
                bar.update(1)
                bar.set_postfix(loss=f"{metrics['loss']:.3f}", tok_s=f"{metrics['tokens_per_s']:.0f}")
                if log is not None and (self.state.step % cfg.log_every == 0 or self.state.step == self.total_steps):
                    log.write({"step": self.state.step, "split": "train", "tokens": self.state.tokens_seen,
                               **{k: v for k, v in metrics.items() if not isinstance(v, bool)}})
                if cfg.eval_every and (self.state.step % cfg.eval_every == 0 or self.state.step == self.total_steps):
                    val = evaluate(self.model, self.data.val_batches(cfg.batch_size, cfg.eval_batches),
                                   self.device, cfg.precision)
                    if log is not None and val:  # no validation source (or eval_batches=0): nothing to log
                        log.write({"step": self.state.step, "split": "val", **val})
                        scores = "".join(f", {k.removeprefix('metric/')} {v:.4f}" for k, v in val.items()
                                         if k.startswith("metric/"))
                        bar.write(f"step {self.state.step}: val loss {val['loss']:.4f}{scores}")
                boundary = True
                if cfg.save_every and self.state.step % cfg.save_every == 0:
                    self.save()
                if interrupt.stop(self.world_size, self.device):
                    raise KeyboardInterrupt
        except KeyboardInterrupt:
            if not boundary:  # a second Ctrl-C inside a step: its state is half-applied, keep the last checkpoint
                if main:
                    bar.write(f"interrupted inside step {self.state.step + 1}: not saved (a half-applied step); "
                              f"the last checkpoint in {self.checkpoint_dir} stands")
                raise
            if main:
                bar.write(f"interrupted after step {self.state.step}: saving {self.checkpoint_dir}")
            self.save()
            raise
        finally:
            interrupt.restore()
            bar.close()
            if log is not None:
                log.close()
        self.save()
        if main:
            write_loss_curves(self.out_dir)
        return self.state


def train(cfg: TrainConfig, resume: bool | str | Path = False, device: str | None = None) -> Trainer:
    """Run a whole training job; ``resume=True`` continues from ``out_dir/checkpoint``.

    Under ``torchrun`` every rank calls this; the process group is joined on entry and left on exit.
    """
    trainer = Trainer(cfg, device=device)
    try:
        if resume:
            trainer.resume(None if resume is True else resume)
        trainer.run()
    finally:
        trainer.close()
    return trainer
