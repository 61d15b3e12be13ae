"""One-shot accelerator check of omnimask training at size B (``benchmarks/gpu_check.sh`` runs it).

Measured in this one run, on the current device:

* the bf16 matmul roof (a large matmul timed here) beside the datasheet peak;
* which scaled-dot-product-attention kernels run at the model's attention shapes, with and without
  the key-padding mask that the packed model passes (flash attention takes no mask), and their time;
* training throughput of the ``b_mod7`` recipe's model (size B, 4M-7 modalities, 128 + 128 tokens
  per sample) on random pre-tokenized data, for each variant: eager with bf16 autocast; FSDP2 on one
  device (bf16 parameters, fp32 reductions); FSDP2 + ``torch.compile`` per block. For each:
  tokens/s, ms per step, peak memory and MFU (model FLOPs of one step, counted by
  ``torch.utils.flop_counter`` on the eager model, per second, over the peak).

``--tiny`` is a dry run of the same code on the CPU (tiny size, two steps, no compile).
Usage: ``python -m benchmarks.gpu_check [--tiny] [--batch 64] [--steps 20] [--variants eager,fsdp,fsdp_compile]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.dataloader import random_store
from omnimask.batch import batch_to
from omnimask.config import apply_overrides
from omnimask.precision import autocast_context
from omnimask.recipes import get_recipe
from omnimask.training.loop import Trainer, count_input_tokens, count_target_tokens

#: Dense bf16 peak by datasheet, FLOP/s (H100 / H200 SXM).
DATASHEET_BF16 = {"H100": 989.4e12, "H200": 989.4e12}

VARIANTS = {
    "eager": ["parallel.strategy=none"],
    "fsdp": ["parallel.strategy=fsdp", "parallel.param_dtype=bf16", "parallel.reduce_dtype=fp32"],
    "fsdp_compile": ["parallel.strategy=fsdp", "parallel.param_dtype=bf16", "parallel.compile=true"],
}


def synchronize(device: torch.device) -> None:
    if device.type != "cpu":
        torch.accelerator.synchronize(device)


def matmul_roof(device: torch.device, n: int) -> float:
    a, b = (torch.randn(n, n, device=device, dtype=torch.bfloat16) for _ in range(2))
    for _ in range(3):
        a @ b
    synchronize(device)
    t0 = time.perf_counter()
    for _ in range(10):
        a @ b
    synchronize(device)
    return 2 * n**3 * 10 / (time.perf_counter() - t0)


def sdpa_table(device: torch.device, batch: int, heads: int, tokens: int, head_dim: int) -> None:
    """Forward + backward ms of each SDPA kernel at (B, H, N, K) in bf16, without and with a key mask."""
    q, k, v = (
        torch.randn(batch, heads, tokens, head_dim, device=device, dtype=torch.bfloat16, requires_grad=True)
        for _ in range(3)
    )
    keep = torch.ones(batch, 1, 1, tokens, device=device, dtype=torch.bool)
    keep[..., tokens - tokens // 8 :] = False
    print(f"SDPA at B={batch} H={heads} N={tokens} K={head_dim}, bf16, forward + backward:")
    for backend in (
        SDPBackend.FLASH_ATTENTION,
        SDPBackend.CUDNN_ATTENTION,
        SDPBackend.EFFICIENT_ATTENTION,
        SDPBackend.MATH,
    ):
        cells = []
        for mask in (None, keep):
            try:
                with sdpa_kernel(backend):
                    for i in range(13):
                        if i == 3:
                            synchronize(device)
                            t0 = time.perf_counter()
                        F.scaled_dot_product_attention(q, k, v, attn_mask=mask).sum().backward()
                    synchronize(device)
                cells.append(f"{(time.perf_counter() - t0) / 10 * 1e3:8.3f} ms")
            except RuntimeError:
                cells.append("     n/a   ")
        print(f"  {backend.name:<20} no mask {cells[0]}   key mask {cells[1]}")


def step_flops(trainer: Trainer, batch) -> int:
    """FLOPs of one forward + backward of the eager model on ``batch``."""
    model = trainer.module
    with FlopCounterMode(display=False) as counter:
        with autocast_context(trainer.device, trainer.cfg.precision):
            out = model(batch)
        out.loss.backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def run_variant(name: str, base, device: torch.device, args, flops: list[int], peaks: dict[str, float]) -> None:
    trainer = Trainer(apply_overrides(base, VARIANTS[name]), device=device)
    try:
        stream = trainer.data.train_batches(0, base.batch_size)
        batches = [batch_to(next(stream), device) for _ in range(4)]
        if not flops:
            flops.append(step_flops(trainer, batches[0]))
        if device.type != "cpu":
            torch.cuda.reset_peak_memory_stats(device)
        times, tokens = [], []
        for i in range(args.warmup + args.steps):
            b = batches[i % len(batches)]
            synchronize(device)
            t0 = time.perf_counter()
            trainer.train_step([b])
            synchronize(device)
            if i >= args.warmup:
                times.append(time.perf_counter() - t0)
                tokens.append(count_input_tokens(b) + count_target_tokens(b))
        step = statistics.median(times)
        achieved = flops[0] / step
        memory = f"{torch.cuda.max_memory_allocated(device) / 2**30:6.1f} GiB" if device.type != "cpu" else "  n/a"
        mfu = "  ".join(f"MFU {achieved / p * 100:5.1f}% of {label}" for label, p in peaks.items())
        print(
            f"{name:<13} {statistics.mean(tokens) / step:10.0f} tokens/s  {step * 1e3:8.1f} ms/step  "
            f"peak {memory}  {achieved / 1e12:7.3g} TFLOP/s  {mfu}"
        )
    finally:
        trainer.close()
        del trainer
        if device.type != "cpu":
            torch.cuda.empty_cache()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="dry run on the CPU: tiny model, two steps")
    parser.add_argument("--recipe", default="b_mod7")
    parser.add_argument("--batch", type=int, default=64, help="samples per step")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=8, help="untimed steps (compilation happens here)")
    parser.add_argument("--variants", default="eager,fsdp,fsdp_compile")
    parser.add_argument("--workers", type=int, default=8, help="loader workers for the random dataset")
    args = parser.parse_args()
    accelerator = torch.accelerator.current_accelerator() if torch.accelerator.is_available() else None
    device = torch.device("cpu") if args.tiny or accelerator is None else accelerator
    variants = [v for v in args.variants.split(",") if v]
    if args.tiny:
        args.batch, args.steps, args.warmup, args.workers = 4, 2, 1, 0
        variants = [v for v in variants if "compile" not in v]
    name = torch.cuda.get_device_name(device) if device.type != "cpu" else "CPU"
    print(f"omnimask GPU check: torch {torch.__version__}, device {name}")

    roof = matmul_roof(device, 512 if args.tiny else 8192)
    peaks = {"matmul roof": roof}
    peaks.update({f"{k} datasheet": v for k, v in DATASHEET_BF16.items() if k in name})
    print(
        f"bf16 matmul roof {roof / 1e12:.3g} TFLOP/s"
        + "".join(f"; {k} {v / 1e12:.0f}" for k, v in peaks.items() if k != "matmul roof")
    )
    tmp = Path(tempfile.mkdtemp(prefix="omnimask-gpu-check-"))
    base = apply_overrides(
        get_recipe(args.recipe),
        [
            f"out_dir={tmp / 'run'}",
            f"data.path={tmp / 'store'}",
            "data.source=store",
            f"data.num_workers={args.workers}",
            f"batch_size={args.batch}",
            "precision=bf16",
            "progress=false",
            "tensorboard=false",
            "eval_every=0",
            "save_every=0",
            "steps=1000000",
            *(["model.size=tiny"] if args.tiny else []),
        ],
    )
    model = base.model.resolve()
    sdpa_table(device, args.batch, model.num_heads, base.masking.num_input_tokens, model.dim // model.num_heads)
    random_store(base.model.specs(), 16 if args.tiny else 256, tmp / "store")
    print(
        f"training {args.recipe} (size {model.size}, {model.dim}x{model.encoder_depth}+{model.decoder_depth}), "
        f"batch {args.batch}, {base.masking.num_input_tokens}+{base.masking.num_target_tokens} tokens/sample, "
        f"median of {args.steps} steps after {args.warmup}:"
    )
    flops: list[int] = []
    for variant in variants:
        try:
            run_variant(variant, base, device, args, flops, peaks)
        except Exception as err:  # report and go on: one broken variant must not hide the others
            print(f"{variant:<13} FAILED: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
    if flops:
        print(f"model FLOPs per step: {flops[0] / 1e12:.3g} TFLOP")


if __name__ == "__main__":
    main()
