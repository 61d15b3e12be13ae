"""The one training loop of omnimask (4M's multimodal masked-modelling objective).

``train(cfg)`` builds the model, the data stream and the optimizer from a :class:`TrainConfig` and
runs to the step budget with gradient accumulation, clipping, bf16 autocast (CPU and GPU), periodic
validation per modality, JSONL metrics, a progress bar (loss, tokens/s, ETA) and atomic checkpoints.

Exact resumption: the data stream is a pure function of (seed, global sample index), so a resumed
run restores weights, optimizer, scheduler and RNG state and continues at the sample where it
stopped; k steps + resume + k steps equals 2k uninterrupted steps bit for bit. Ctrl-C saves a
checkpoint and exits cleanly. A non-finite loss skips the step (logged); ``max_bad_steps``
consecutive ones abort the run with a clear message.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from tqdm.auto import tqdm

from omnimask.batch import Batch, batch_to
from omnimask.training.checkpoint import TrainState, load_training_state, load_weights, save_checkpoint
from omnimask.training.config import TrainConfig
from omnimask.training.metrics import MetricsLog
from omnimask.training.optim import build_optimizer, build_scheduler
from omnimask.training.setup import build_data, build_model


class NonFiniteLossError(RuntimeError):
    """Raised after too many consecutive steps with a NaN or infinite loss."""


def autocast_context(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast on any device type, or nothing for fp32."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def count_target_tokens(batch: Batch) -> int:
    """Number of decoder targets in a batch (the quantity 4M's token budgets count)."""
    return int(sum(mb.target_keep.sum() for mb in batch.values()))


def count_input_tokens(batch: Batch) -> int:
    return int(sum(mb.input_keep.sum() for mb in batch.values()))


@torch.no_grad()
def evaluate(model: torch.nn.Module, batches: Iterator[Batch], device: torch.device, precision: str) -> dict:
    """Mean total and per-modality validation loss over ``batches``."""
    was_training = model.training
    model.eval()
    totals: dict[str, float] = {}
    counts: dict[str, int] = {}
    for batch in batches:
        with autocast_context(device, precision):
            out = model(batch_to(batch, device))
        per_modality = {f"loss/{k}": v for k, v in out.loss_per_modality.items()}
        for name, value in {"loss": out.loss, **per_modality}.items():
            totals[name] = totals.get(name, 0.0) + float(value)
            counts[name] = counts.get(name, 0) + 1
    model.train(was_training)
    return {name: totals[name] / counts[name] for name in totals}


class Trainer:
    """Holds the live objects of one run; :meth:`run` trains to the budget."""

    def __init__(self, cfg: TrainConfig, device: torch.device | str | None = None) -> None:
        self.cfg = cfg
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.out_dir = Path(cfg.out_dir)
        torch.manual_seed(cfg.seed)
        self.model = build_model(cfg).to(self.device)
        self.data = build_data(cfg)
        global_batch = cfg.batch_size * cfg.grad_accum
        self.total_steps = cfg.total_steps(self.data.tokens_per_sample)
        self.optimizer = build_optimizer(self.model, cfg.optim, global_batch)
        self.scheduler = build_scheduler(self.optimizer, cfg.optim, self.total_steps, global_batch)
        self.state = TrainState()
        self.bad_in_a_row = 0

    @property
    def checkpoint_dir(self) -> Path:
        return self.out_dir / "checkpoint"

    def resume(self, directory: str | Path | None = None) -> None:
        """Continue from a checkpoint directory (default: this run's latest)."""
        directory = Path(directory) if directory is not None else self.checkpoint_dir
        load_weights(directory, self.model)
        self.state = load_training_state(directory, self.optimizer, self.scheduler)

    def save(self) -> Path:
        return save_checkpoint(self.checkpoint_dir, self.model, self.cfg, self.optimizer, self.scheduler, self.state,
                               tokenizers=self.data.tokenizer_dir)

    def train_step(self, micro_batches: list[Batch]) -> dict:
        """One optimizer step over ``grad_accum`` micro-batches; returns the step's metrics."""
        cfg = self.cfg
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        timings = {"forward": 0.0, "backward": 0.0}
        loss_sum = 0.0
        per_mod: dict[str, float] = {}
        for batch in micro_batches:
            batch = batch_to(batch, self.device)
            t0 = time.perf_counter()
            with autocast_context(self.device, cfg.precision):
                out = self.model(batch)
            t1 = time.perf_counter()
            (out.loss / len(micro_batches)).backward()
            timings["forward"] += t1 - t0
            timings["backward"] += time.perf_counter() - t1
            loss_sum += float(out.loss.detach())
            for name, value in out.loss_per_modality.items():
                per_mod[name] = per_mod.get(name, 0.0) + float(value.detach()) / len(micro_batches)
        loss = loss_sum / len(micro_batches)
        t2 = time.perf_counter()
        finite = math.isfinite(loss)
        grad_norm = float("nan")
        if finite:
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.optim.clip_grad))
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
                "lr": self.optimizer.param_groups[0]["lr"], **{f"loss/{k}": v for k, v in per_mod.items()},
                **{f"time/{k}": v for k, v in timings.items()}}

    def run(self) -> TrainState:
        """Train until the step budget is spent; checkpoint on the way, at the end and on Ctrl-C."""
        cfg = self.cfg
        self.out_dir.mkdir(parents=True, exist_ok=True)
        log = MetricsLog(self.out_dir, tensorboard=cfg.tensorboard)
        stream = self.data.train_batches(start_sample=self.state.samples_seen, batch_size=cfg.batch_size)
        bar = tqdm(total=self.total_steps, initial=self.state.step, desc="train", unit="step",
                   disable=not cfg.progress, dynamic_ncols=True)
        try:
            while self.state.step < self.total_steps:
                t0 = time.perf_counter()
                micro = [next(stream) for _ in range(cfg.grad_accum)]
                data_time = time.perf_counter() - t0
                metrics = self.train_step(micro)
                step_time = time.perf_counter() - t0
                tokens = sum(count_target_tokens(b) + count_input_tokens(b) for b in micro)
                self.state.step += 1
                self.state.samples_seen += cfg.batch_size * cfg.grad_accum
                self.state.tokens_seen += tokens
                metrics.update({"time/data": data_time, "tokens_per_s": tokens / step_time})
                bar.update(1)
                bar.set_postfix(loss=f"{metrics['loss']:.3f}", tok_s=f"{metrics['tokens_per_s']:.0f}")
                if self.state.step % cfg.log_every == 0 or self.state.step == self.total_steps:
                    log.write({"step": self.state.step, "split": "train", "tokens": self.state.tokens_seen,
                               **{k: v for k, v in metrics.items() if not isinstance(v, bool)}})
                if cfg.eval_every and (self.state.step % cfg.eval_every == 0 or self.state.step == self.total_steps):
                    val = evaluate(self.model, self.data.val_batches(cfg.batch_size, cfg.eval_batches),
                                   self.device, cfg.precision)
                    log.write({"step": self.state.step, "split": "val", **val})
                    bar.write(f"step {self.state.step}: val loss {val['loss']:.4f}")
                if cfg.save_every and self.state.step % cfg.save_every == 0:
                    self.save()
        except KeyboardInterrupt:
            bar.write(f"interrupted at step {self.state.step}: saving {self.checkpoint_dir}")
            self.save()
            raise
        finally:
            bar.close()
            log.close()
        self.save()
        return self.state


def train(cfg: TrainConfig, resume: bool | str | Path = False, device: str | None = None) -> Trainer:
    """Run a whole training job; ``resume=True`` continues from ``out_dir/checkpoint``."""
    trainer = Trainer(cfg, device=device)
    if resume:
        trainer.resume(None if resume is True else resume)
    trainer.run()
    return trainer
