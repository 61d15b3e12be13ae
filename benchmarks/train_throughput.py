"""Training throughput of a recipe on this machine, with the step split and the matmul roof.

Prints, all measured in this one run:

* tokens/s (encoder inputs + decoder targets) and the step split: data, forward, backward, optimizer;
* achieved FLOP/s of the training step (FLOPs counted by ``torch.utils.flop_counter``) and its
  fraction of this machine's matmul roof (a large matmul in the same precision, timed here);
* the speed-up of SDPA attention (what omnimask uses) over an explicit-softmax baseline at the
  model's own attention shapes, forward + backward.

Usage: ``python -m benchmarks.train_throughput [--recipe synth_tiny] [--steps 20] [--set key=value ...]``;
``--precisions fp32,bf16,auto`` times each precision in interleaved rounds and prints the ratios.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from omnimask.batch import batch_to
from omnimask.config import apply_overrides
from omnimask.precision import autocast_context, describe, resolve_precision
from omnimask.recipes import get_recipe
from omnimask.training.loop import Trainer, count_input_tokens, count_target_tokens


def matmul_roof(precision: str, n: int = 2048, repeats: int = 10) -> float:
    """FLOP/s of an n×n×n matmul in the run's precision (the machine's practical peak)."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - t0)


def explicit_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """The baseline: softmax(q·kᵀ/√K masked) · v written out, as the reference implementation does."""
    scores = (q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5
    scores = scores.masked_fill(~keep, -torch.finfo(scores.dtype).max)
    return scores.softmax(-1) @ v


def attention_speedup(batch: int, heads: int, tokens: int, head_dim: int, precision: str, repeats: int = 20) -> tuple:
    """(baseline ms, SDPA ms) for forward + backward at (B, H, N, K) with a key-padding mask."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    q, k, v = (torch.randn(batch, heads, tokens, head_dim, dtype=dtype, requires_grad=True) for _ in range(3))
    keep = torch.ones(batch, 1, 1, tokens, dtype=torch.bool)
    keep[..., tokens - tokens // 8 :] = False

    def timed(fn) -> float:
        for _ in range(3):
            fn(q, k, v, keep).sum().backward()
        t0 = time.perf_counter()
        for _ in range(repeats):
            fn(q, k, v, keep).sum().backward()
        return (time.perf_counter() - t0) / repeats * 1e3

    sdpa = timed(lambda q, k, v, m: torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=m))
    return timed(explicit_attention), sdpa


def timed_steps(trainer: Trainer, stream, steps: int) -> tuple[list[dict], list[int]]:
    """``steps`` training steps: per step the split (data, forward, backward, optimizer) and its tokens."""
    rows, tokens = [], []
    for _ in range(steps):
        t0 = time.perf_counter()
        batch = next(stream)
        data_time = time.perf_counter() - t0
        m = trainer.train_step([batch])
        rows.append({"data": data_time, **{k[5:]: v for k, v in m.items() if k.startswith("time/")}})
        tokens.append(count_input_tokens(batch) + count_target_tokens(batch))
    return rows, tokens


def report(name: str, trainer: Trainer, stream, rows: list[dict], tokens: list[int]) -> float:
    """Print one precision's figures; returns its tokens/s."""
    cfg = trainer.cfg
    precision = resolve_precision(cfg.precision, trainer.device)
    split = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    step = sum(split.values())
    tok_s = statistics.median(tokens) / step

    batch = batch_to(next(stream), trainer.device)
    with FlopCounterMode(display=False) as counter:
        with autocast_context(trainer.device, cfg.precision):
            out_ = trainer.model(batch)
        out_.loss.backward()
    trainer.optimizer.zero_grad(set_to_none=True)
    flops = counter.get_total_flops()
    compute = split["forward"] + split["backward"]
    roof = matmul_roof(precision)

    spec = trainer.model.config.resolve()
    n_tokens = cfg.masking.num_input_tokens
    base_ms, sdpa_ms = attention_speedup(cfg.batch_size, spec.num_heads, n_tokens, spec.dim // spec.num_heads,
                                         precision)

    print(f"recipe {name} ({describe(cfg.precision, trainer.device)}, batch {cfg.batch_size}, "
          f"torch threads {torch.get_num_threads()})")
    print(f"tokens/s          {tok_s:10.0f}   (median of {len(rows)} steps, {statistics.median(tokens)} tokens/step)")
    parts = "  ".join(f"{k} {v * 1e3:.1f}" for k, v in split.items())
    print(f"step split (ms)   {parts}  total {step * 1e3:.1f}")
    gflops = flops / compute / 1e9
    print(f"achieved FLOP/s   {gflops:10.2f} GFLOP/s over forward+backward ({flops / 1e9:.2f} GFLOP/step)")
    print(f"matmul roof       {roof / 1e9:10.2f} GFLOP/s  -> fraction {flops / compute / roof:.3f}")
    print(f"attention fwd+bwd at B={cfg.batch_size} H={spec.num_heads} N={n_tokens} K={spec.dim // spec.num_heads}: "
          f"explicit {base_ms:.2f} ms, SDPA {sdpa_ms:.2f} ms -> speed-up {base_ms / sdpa_ms:.2f}x")
    return tok_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="synth_tiny")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--precisions", default="", metavar="A,B",
                        help="compare precisions (e.g. fp32,bf16,auto), interleaved in rounds; the first is the "
                             "baseline of the printed ratios (default: the recipe's precision alone)")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds of --steps/--rounds steps each")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    out = tempfile.mkdtemp(prefix="omnimask-bench-")
    base = apply_overrides(get_recipe(args.recipe), [
        "data.num_train=256", "data.num_val=0", "data.fit_samples=256", "progress=false", "tensorboard=false",
        f"out_dir={out}", *args.overrides,
    ])
    precisions = [p for p in args.precisions.split(",") if p] or [base.precision]
    runs = {}
    for p in precisions:
        trainer = Trainer(dataclasses.replace(base, precision=p))
        stream = trainer.data.train_batches(0, base.batch_size)
        timed_steps(trainer, stream, 3)  # warm-up
        runs[p] = (trainer, stream, [], [])
    per_round = max(1, args.steps // args.rounds) if len(precisions) > 1 else args.steps
    for _ in range(args.rounds if len(precisions) > 1 else 1):
        for trainer, stream, rows, tokens in runs.values():
            r, t = timed_steps(trainer, stream, per_round)
            rows += r
            tokens += t
    speeds = {p: report(args.recipe, *run) for p, run in runs.items()}
    baseline = precisions[0]
    for p in precisions[1:]:
        print(f"{p} / {baseline} tokens/s: {speeds[p] / speeds[baseline]:.2f}x")


if __name__ == "__main__":
    main()
