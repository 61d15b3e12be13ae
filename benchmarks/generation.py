"""Generation latency and tokens/s: omnimask's fast path against the release's way, in one run.

Scenarios (B = 1, temperature 0 so both paths must give identical tokens):

* RGB → depth, ROAR 1 step (single-pass prediction);
* caption → RGB, MaskGIT 8 steps + classifier-free guidance 3;
* caption → RGB, ROAR 25 steps + classifier-free guidance 3;
* RGB → caption, autoregressive (up to ``--caption-slots`` − 1 tokens).

The **naive baseline** runs the same plan the way the released sampler does: every guidance view
as its own forward pass, and every autoregressive token re-running the decoder on the whole prefix.
The **fast path** batches the views into one forward and decodes with a KV cache. Both use the same
strategies, so the printed check "same tokens" compares their outputs token for token.

Usage: ``python -m benchmarks.generation [--model DIR] [--dim 128 --depth 2 --heads 2] [--repeats 3] [--threads 1]``
— the naive / fast table runs in fp32; a second table times the fast path in ``--precision`` (default
``auto``: bf16 where this CPU is faster at it) against fp32
(default: a randomly initialised 4M-7 model of the given shape with the released vocabularies;
``--model`` loads an omnimask or released checkpoint directory instead).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from omnimask.batch import Batch
from omnimask.generation import Plan, Sampler, Step
from omnimask.generation.state import full_condition, sequence_from_ids
from omnimask.model import FourM, ModelConfig
from omnimask.precision import describe


def build_model(args: argparse.Namespace) -> FourM:
    if args.model:
        from omnimask.loading import load_model

        return load_model(args.model, "cpu")
    cfg = ModelConfig(size=None, dim=args.dim, encoder_depth=args.depth, decoder_depth=args.depth,
                      num_heads=args.heads, modality_set="4m7")
    return FourM(cfg).eval()


def scenarios(model: FourM, slots: int) -> list[tuple[str, Batch, Plan]]:
    g = torch.Generator().manual_seed(0)
    specs = model.specs
    rgb = full_condition(specs["rgb@224"], torch.randn(1, 3, 224, 224, generator=g))
    ids, lengths = sequence_from_ids([torch.randint(5000, 20000, (12,), generator=g).tolist()])
    caption = full_condition(specs["caption"], ids, lengths)
    cfg = {"guidance_scale": 3.0, "guidance_conditions": ("caption",), "temperature": 0.0}
    return [
        ("RGB->depth ROAR 1", {"rgb@224": rgb},
         Plan((Step(target="tok_depth@224", scheme="roar", num_steps=1, token_schedule="linear", temperature=0.0),))),
        ("caption->RGB MaskGIT 8 + CFG 3", {"caption": caption},
         Plan((Step(target="tok_rgb@224", scheme="maskgit", num_steps=8, token_schedule="cosine", **cfg),))),
        ("caption->RGB ROAR 25 + CFG 3", {"caption": caption},
         Plan((Step(target="tok_rgb@224", scheme="roar", num_steps=25, token_schedule="linear", **cfg),))),
        ("RGB->caption AR", {"rgb@224": rgb},
         Plan((Step(target="caption", scheme="autoregressive", temperature=0.0, num_tokens=slots),))),
    ]


def timed(sampler: Sampler, conditions: Batch, plan: Plan, repeats: int) -> tuple[float, object]:
    result = sampler.generate(conditions, plan, seed=0)  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = sampler.generate(conditions, plan, seed=0)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def generated_tokens(result, plan: Plan) -> int:
    """Tokens produced per sample: committed grid tokens, or autoregressive tokens."""
    total = 0
    for r in result.records:
        total += int(r.valid.sum()) if r.positions is not None else int(r.generated.shape[1] * r.generated.shape[0])
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="checkpoint directory (default: random init)")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--heads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--caption-slots", type=int, default=129, help="AR placeholder slots (tokens + 1)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (default: torch's choice)")
    parser.add_argument("--no-precision-table", action="store_true",
                        help="skip the table of the fast path in fp32, bf16 and auto")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_model(args)
    cfg = model.config
    print(f"model: D={cfg.dim}, {cfg.encoder_depth}+{cfg.decoder_depth} blocks, {cfg.num_heads} heads; "
          f"CPU threads {torch.get_num_threads()}; median of {args.repeats} runs after a warm-up")
    header = f"{'scenario':34s} {'naive s':>9s} {'fast s':>9s} {'tokens':>7s} {'naive tok/s':>12s} " \
             f"{'fast tok/s':>11s} {'speed-up':>9s}  same tokens"
    print(header)
    print("-" * len(header))
    fast, naive = Sampler(model, fast=True, precision="fp32"), Sampler(model, fast=False, precision="fp32")
    for name, conditions, plan in scenarios(model, args.caption_slots):
        t_naive, r_naive = timed(naive, conditions, plan, args.repeats)
        t_fast, r_fast = timed(fast, conditions, plan, args.repeats)
        target = plan.targets[0]
        same = r_fast.tokens(target).shape == r_naive.tokens(target).shape and torch.equal(
            r_fast.tokens(target), r_naive.tokens(target))
        n = generated_tokens(r_fast, plan)
        print(f"{name:34s} {t_naive:9.3f} {t_fast:9.3f} {n:7d} {n / t_naive:12.1f} {n / t_fast:11.1f} "
              f"{t_naive / t_fast:8.2f}x  {'yes' if same else 'NO'}")
    if not args.no_precision_table:
        precision_table(model, args)


def precision_table(model: FourM, args: argparse.Namespace) -> None:
    """The fast path in fp32, bf16 and ``auto`` (per call: what this device picks for each shape), same process."""
    samplers = {p: Sampler(model, fast=True, precision=p) for p in ("fp32", "bf16", "auto")}
    print(f"\nfast path in fp32, bf16 and auto (batch-shaped probe: {describe('auto', 'cpu')}; "
          "inference decides per call)")
    header = (f"{'scenario':34s} {'fp32 s':>9s} {'bf16 s':>9s} {'auto s':>9s} {'fp32/auto':>10s} "
              f"{'bf16/auto':>10s}  auto tokens = fp32's")
    print(header)
    print("-" * len(header))
    for name, conditions, plan in scenarios(model, args.caption_slots):
        runs = {p: timed(s, conditions, plan, args.repeats) for p, s in samplers.items()}
        target = plan.targets[0]
        a, b = runs["fp32"][1].tokens(target), runs["auto"][1].tokens(target)
        same = f"{float((a == b).float().mean()):.0%}" if a.shape == b.shape else "lengths differ"
        t = {p: r[0] for p, r in runs.items()}
        print(f"{name:34s} {t['fp32']:9.3f} {t['bf16']:9.3f} {t['auto']:9.3f} {t['fp32'] / t['auto']:9.2f}x "
              f"{t['bf16'] / t['auto']:9.2f}x  {same}")


if __name__ == "__main__":
    main()
