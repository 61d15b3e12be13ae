"""Per-sample cost of 4M masking (omnimask.masking) against baselines measured in the same run.

Setting: the 4M-7 modality set with released token counts (RGB pixels 3×224×224 → 196 patches, five
14×14 token grids, caption and detection sequences with max_tokens 256), the released
``all2all + rgb2all, α = 0.5`` mixture, 128 input / 128 target tokens, one sample at a time as in a
DataLoader worker. Baselines:

* *copy*: a plain Python loop that only copies every array of the sample (the floor for any
  per-sample transform);
* *tiny step*: forward + backward + SGD update of a 2-layer MLP (width 64, hidden 256) over the
  256 tokens of a sample, batch 32, divided by 32 — a stand-in for a tiny model's training step.

Run: ``python benchmarks/masking.py [--samples 2000] [--threads 1]``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from omnimask.masking import Masker, MaskingConfig, all2all, collate, combine_mixtures, rgb2all
from omnimask.modalities import fourm7_modalities


def raw_sample(rng: np.random.Generator) -> dict[str, object]:
    """A 4M-7 sample with realistic lengths: a ~12-token caption, 2–8 boxes of 5 tokens each."""
    sample: dict[str, object] = {"rgb@224": rng.standard_normal((3, 224, 224)).astype(np.float32)}
    for name in ("tok_rgb@224", "tok_depth@224", "tok_normal@224", "tok_semseg@224", "tok_clip@224"):
        sample[name] = rng.integers(0, 4096, 196)
    sample["caption"] = rng.integers(4284, 30_000, int(rng.integers(6, 20)))
    sample["det"] = rng.integers(204, 4284, 5 * int(rng.integers(2, 9)))
    return sample


def per_call_us(fn: Callable[[int], object], calls: int, repeats: int = 3) -> float:
    """Best-of-``repeats`` mean time of ``fn(i)`` in microseconds."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(calls):
            fn(i)
        best = min(best, (time.perf_counter() - start) / calls)
    return best * 1e6


def tiny_step_us_per_sample(batch: int = 32, tokens: int = 256, width: int = 64) -> float:
    gen = torch.Generator().manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(width, 4 * width), torch.nn.GELU(), torch.nn.Linear(4 * width, width))
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    x = torch.randn(batch, tokens, width, generator=gen)

    def step(_: int) -> None:
        opt.zero_grad(set_to_none=True)
        model(x).square().mean().backward()
        opt.step()

    return per_call_us(step, 20) / batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=2000, help="masked samples per timing repeat")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the tiny-step baseline")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    specs = fourm7_modalities()
    names = list(specs)
    mixture = combine_mixtures([rgb2all(0.5, names), all2all(0.5, names, input_only=["rgb@224"])])
    masker = Masker(specs, MaskingConfig(num_input_tokens=128, num_target_tokens=128, mixture=mixture))
    data_rng = np.random.default_rng(0)
    pool = [raw_sample(data_rng) for _ in range(64)]
    rngs = [np.random.default_rng(i) for i in range(args.samples)]

    mask_us = per_call_us(lambda i: masker(pool[i % 64], rngs[i]), args.samples)
    budget_us = per_call_us(lambda i: masker.draw_budgets(pool[i % 64], rngs[i]), args.samples)
    copy_us = per_call_us(lambda i: {k: np.array(v, copy=True) for k, v in pool[i % 64].items()}, args.samples)
    masked = [masker(pool[i % 64], i) for i in range(64)]
    collate_us = per_call_us(lambda i: collate(masked[:32], specs), 20) / 32
    step_us = tiny_step_us_per_sample()

    print(f"4M-7 modalities, released token counts, 128/128 budgets, {args.samples} samples, 1 process")
    print(f"  mask_sample            {mask_us:8.1f} us/sample")
    print(f"    of which budgets     {budget_us:8.1f} us/sample")
    print(f"  collate (batch 32)     {collate_us:8.1f} us/sample")
    print(f"  baseline: copy arrays  {copy_us:8.1f} us/sample   masking / copy      = {mask_us / copy_us:6.2f}x")
    print(f"  baseline: tiny step    {step_us:8.1f} us/sample   masking / tiny step = {mask_us / step_us:6.2f}x")
    print(f"  (tiny step: MLP 64-256-64 fwd+bwd+SGD over 256 tokens, batch 32, {args.threads} torch thread(s))")


if __name__ == "__main__":
    main()
