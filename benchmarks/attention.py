"""Attention and variable-budget throughput of the 4M model, as ratios measured in one run.

1. ``scaled_dot_product_attention`` (our :func:`omnimask.nn.attend`) against an explicit
   softmax(q kᵀ/√K) v baseline at the same shapes, with a key-padding mask, forward + backward.
2. FourM training steps (forward + backward) on 4M-7-like image batches:
   * ``uniform``: every sample has the same input / target budget;
   * ``varied``: per-sample budgets drawn between a quarter of and the full budget (same maximum);
     the model packs rows to the largest count in the batch, so samples/s should stay ~ uniform;
   * the cost a naive implementation would pay instead — running the encoder over every position
     of every modality with a mask — measured on the encoder stack at both widths.

Usage: ``python benchmarks/attention.py [--dim 128 --depth 2 --batch 8 --iters 5 --threads 1]``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from omnimask.batch import Batch, ModalityBatch
from omnimask.modalities import fourm7_modalities
from omnimask.model import FourM, config_for_specs
from omnimask.nn import attend

IMAGE_MODALITIES = ["rgb@224", "tok_rgb@224", "tok_depth@224", "tok_normal@224", "tok_semseg@224", "tok_clip@224"]


def timed(fn: Callable[[], object], iters: int) -> float:
    """Fastest of ``iters`` calls in seconds, after one warm-up call (the minimum resists machine load)."""
    fn()
    best = float("inf")
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def explicit_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    scores = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5
    scores = scores.masked_fill(~keep, -torch.finfo(scores.dtype).max)  # the reference's masking
    return scores.softmax(-1) @ v


def bench_kernels(batch: int, heads: int, iters: int, gen: torch.Generator) -> None:
    print("attention kernel, forward+backward, key-padding mask (B, H, N, K=64)")
    print(f"{'N':>6} {'sdpa ms':>9} {'explicit ms':>12} {'explicit/sdpa':>14}")
    for n in (128, 256, 512):
        q, k, v = (torch.randn(batch, heads, n, 64, generator=gen, requires_grad=True) for _ in range(3))
        lengths = torch.randint(n // 4, n + 1, (batch,), generator=gen)
        keep = (torch.arange(n)[None, :] < lengths[:, None])[:, None, None, :]  # (B, 1, 1, N)

        def run(fn: Callable[..., torch.Tensor], q=q, k=k, v=v, keep=keep) -> None:
            fn(q, k, v, keep).sum().backward()

        t_sdpa = timed(lambda: run(attend), iters)
        t_explicit = timed(lambda: run(explicit_attention), iters)
        print(f"{n:>6} {1e3 * t_sdpa:>9.2f} {1e3 * t_explicit:>12.2f} {t_explicit / t_sdpa:>14.2f}")


def image_batch(size: int, budgets_in: list[int], budgets_out: list[int], gen: torch.Generator) -> Batch:
    """Random 4M-7 image batch: per sample a random split of its budgets over all image positions."""
    specs = fourm7_modalities()
    counts = [specs[m].num_tokens for m in IMAGE_MODALITIES]
    total = sum(counts)
    inputs = torch.zeros(size, total, dtype=torch.bool)
    targets = torch.zeros(size, total, dtype=torch.bool)
    for b in range(size):
        perm = torch.randperm(total, generator=gen)
        inputs[b, perm[: budgets_in[b]]] = True
        targets[b, perm[budgets_in[b] : budgets_in[b] + budgets_out[b]]] = True
    batch: Batch = {}
    for m, keep_in, keep_out in zip(IMAGE_MODALITIES, inputs.split(counts, 1), targets.split(counts, 1)):
        spec = specs[m]
        if spec.kind == "pixels":
            tensor = torch.randn(size, 3, 224, 224, generator=gen)
            keep_out = torch.zeros_like(keep_out)
        else:
            tensor = torch.randint(0, 1024, (size, spec.num_tokens), generator=gen)
        batch[m] = ModalityBatch(tensor, keep_in, keep_out)
    return batch


def bench_budgets(args: argparse.Namespace, gen: torch.Generator) -> None:
    specs = {m: s.with_(vocab_size=1024) if s.is_discrete else s for m, s in fourm7_modalities().items()}
    specs = {m: specs[m] for m in IMAGE_MODALITIES}
    cfg = config_for_specs(
        specs, size=None, dim=args.dim, encoder_depth=args.depth, decoder_depth=args.depth, num_heads=args.dim // 64
    )
    model = FourM(cfg).train()
    n, size = args.budget, args.batch
    uniform = image_batch(size, [n] * size, [n] * size, gen)
    varied_in = torch.randint(n // 4, n + 1, (size,), generator=gen).tolist()
    varied_out = torch.randint(n // 4, n + 1, (size,), generator=gen).tolist()
    varied_in[0] = varied_out[0] = n  # same maximum as the uniform batch
    varied = image_batch(size, varied_in, varied_out, gen)

    def step(batch: Batch) -> None:
        model.zero_grad(set_to_none=True)
        model(batch).loss.backward()

    t_uniform = timed(lambda: step(uniform), args.iters)
    t_varied = timed(lambda: step(varied), args.iters)
    real_uniform = 2 * n * size
    real_varied = sum(varied_in) + sum(varied_out)
    print(f"\nFourM train step (D={args.dim}, {args.depth}+{args.depth} layers, B={size}, budget {n} in / {n} out)")
    print(f"{'batch':>8} {'ms/step':>9} {'samples/s':>10} {'real tok/s':>11}")
    for name, t, real in (("uniform", t_uniform, real_uniform), ("varied", t_varied, real_varied)):
        print(f"{name:>8} {1e3 * t:>9.1f} {size / t:>10.1f} {real / t:>11.0f}")
    print(f"samples/s varied / uniform = {t_uniform / t_varied:.2f} (1.0 = no collapse)")

    # What padding to every position would cost instead: the encoder stack at both widths.
    all_positions = sum(fourm7_modalities()[m].num_tokens for m in IMAGE_MODALITIES)
    x_packed = torch.randn(size, n, args.dim, generator=gen)
    x_full = torch.randn(size, all_positions, args.dim, generator=gen)
    keep_full = torch.zeros(size, 1, all_positions, dtype=torch.bool)
    keep_full[:, :, :n] = True

    def encoder(x: torch.Tensor, keep: torch.Tensor | None) -> None:
        h = x
        for block in model.encoder:
            h = block(h, keep)
        h.sum().backward()

    x_packed.requires_grad_(True)
    x_full.requires_grad_(True)
    t_packed = timed(lambda: encoder(x_packed, None), args.iters)
    t_full = timed(lambda: encoder(x_full, keep_full), args.iters)
    print(
        f"encoder fwd+bwd: packed width {n}: {1e3 * t_packed:.1f} ms; every position ({all_positions}) "
        f"masked: {1e3 * t_full:.1f} ms; padded/packed = {t_full / t_packed:.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--budget", type=int, default=128)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(args.seed)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    bench_kernels(args.batch, max(1, args.dim // 64), args.iters, gen)
    bench_budgets(args, gen)


if __name__ == "__main__":
    main()
