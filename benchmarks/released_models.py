"""What the released 4M sizes cost on this machine: measured at one size, extrapolated by FLOPs.

Builds a randomly initialised 4M-7 model of ``--size`` (B by default; the released vocabularies and
token grids, so the work equals a released checkpoint's), times RGB→depth (one ROAR step: one
encoder pass over 196 RGB patches, one decoder pass over 196 queries) in float32 and in bfloat16
(weights cast, as ``load_fm(..., dtype=torch.bfloat16)`` does) in this one run, and prints the
achieved FLOP/s of each (FLOPs from :mod:`omnimask.model.flops`). Then it estimates the latency of
every released size for RGB→depth and for caption→RGB (MaskGIT 8 steps + classifier-free guidance,
two views per step) from their FLOP counts at the measured rate, and prints the parameter memory.

Usage: ``python -m benchmarks.released_models [--size B] [--repeats 3] [--threads N]``
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from omnimask.generation import Plan, Sampler, Step
from omnimask.generation.state import full_condition
from omnimask.model import FourM, ModelConfig
from omnimask.model.flops import forward_flops

MASKGIT8 = (7, 21, 32, 38, 38, 32, 21, 7)  # 196 tokens, cosine schedule (fixture README §8.1)


def caption_to_rgb_flops(cfg: ModelConfig, caption_tokens: int = 12, vocab: int = 16384) -> int:
    """MaskGIT 8 + CFG: per step one conditional and one unconditional pass, encoder growing with commits."""
    total, done = 0, 0
    for k in MASKGIT8:
        total += 2 * forward_flops(cfg, caption_tokens + done, 196 - done, vocab)
        done += k
    return total


def time_rgb_to_depth(model: FourM, repeats: int) -> float:
    pixels = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    rgb = full_condition(model.specs["rgb@224"], pixels)
    rgb = type(rgb)(rgb.tensor.to(next(model.parameters()).dtype), rgb.input_keep, rgb.target_keep)
    plan = Plan((Step(target="tok_depth@224", scheme="roar", num_steps=1, token_schedule="linear", temperature=0.0),))
    sampler = Sampler(model)
    sampler.generate({"rgb@224": rgb}, plan, seed=0)  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        sampler.generate({"rgb@224": rgb}, plan, seed=0)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="B")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = ModelConfig(size=args.size, modality_set="4m7")
    flops = forward_flops(cfg, 196, 196, 8192)
    model = FourM(cfg).eval()
    rates = {}
    print(f"size {args.size}: RGB->depth ROAR 1 = {flops / 1e9:.1f} GFLOP; torch threads {torch.get_num_threads()}")
    for dtype in (torch.float32, torch.bfloat16):
        seconds = time_rgb_to_depth(model.to(dtype), args.repeats)
        rates[dtype] = flops / seconds
        print(f"  {dtype!s:15s} {seconds:7.2f} s   {rates[dtype] / 1e9:7.1f} GFLOP/s")
    best = max(rates, key=rates.get)
    print(f"bf16 / fp32 speed ratio: {rates[torch.bfloat16] / rates[torch.float32]:.2f}x")
    print(f"\nestimates at the measured {best!s} rate ({rates[best] / 1e9:.1f} GFLOP/s):")
    header = f"{'size':5s} {'params':>9s} {'fp32 MB':>8s} {'bf16 MB':>8s} {'RGB->depth':>11s}"
    print(header + f" {'caption->RGB MG8+CFG':>21s}")
    for size in ("B", "L", "XL"):
        c = ModelConfig(size=size, modality_set="4m7")
        with torch.device("meta"):
            params = sum(p.numel() for p in FourM(c).parameters())
        print(f"{size:5s} {params / 1e6:8.0f}M {params * 4 / 2**20:8.0f} {params * 2 / 2**20:8.0f} "
              f"{forward_flops(c, 196, 196, 8192) / rates[best]:10.1f}s {caption_to_rgb_flops(c) / rates[best]:20.1f}s")


if __name__ == "__main__":
    main()
