"""Which precision the matmuls run in: fp32, or bf16 autocast where the hardware is faster at it.

``precision="auto"`` (the default of training, generation and evaluation) resolves per device:

* an accelerator → ``bf16``;
* a CPU → ``bf16`` only when it has bf16 matrix instructions (``amx_bf16`` or ``avx512_bf16`` among the
  ``/proc/cpuinfo`` flags; where that file does not exist, the probe alone decides) **and** a start-up
  probe confirms it: a few milliseconds of (512 × 256) · (256 × 256) matmuls in each dtype, the faster
  by at least :data:`MIN_SPEEDUP` wins. The probe runs on one thread, in interleaved rounds: on two
  threads a busy second core (another process) stalled the bf16 kernels' thread barrier for
  milliseconds and made a bf16-fast CPU look 30× slower in bf16 (measured: 0.03× on two threads,
  4.1–4.4× on one, on the same loaded 2-core AMD EPYC with AVX512-BF16). Without those
  instructions bf16 runs 10–280× slower than fp32 (measured on this project's AMD machines), so it
  is never chosen there, and not even probed.

The probe runs once per process (:func:`cpu_probe` is cached) and :func:`describe` says what it found,
for the logs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import time
from pathlib import Path

import torch

#: The explicit precisions (``auto`` resolves to one of them).
PRECISIONS: tuple[str, ...] = ("fp32", "bf16")
#: ``/proc/cpuinfo`` flags of CPUs with bf16 matrix instructions.
BF16_CPU_FLAGS: tuple[str, ...] = ("amx_bf16", "avx512_bf16")
#: bf16 must beat fp32 by this factor in the probe to be chosen (a margin over timing noise).
MIN_SPEEDUP = 1.3
CPUINFO = Path("/proc/cpuinfo")


@dataclasses.dataclass(frozen=True)
class CpuProbe:
    """What the start-up probe found on this CPU.

    Attributes:
        flags: the bf16 flags the CPU reports (None: no ``/proc/cpuinfo`` to read).
        fp32_s / bf16_s: best time of one probe matmul in each dtype (0 when not probed).
    """

    flags: tuple[str, ...] | None
    fp32_s: float = 0.0
    bf16_s: float = 0.0

    @property
    def speedup(self) -> float:
        """fp32 time over bf16 time (0 when not probed)."""
        return self.fp32_s / self.bf16_s if self.bf16_s > 0 else 0.0

    @property
    def bf16(self) -> bool:
        """Whether ``auto`` picks bf16 on this CPU."""
        return self.speedup >= MIN_SPEEDUP


def cpu_bf16_flags(cpuinfo: Path = CPUINFO) -> tuple[str, ...] | None:
    """The :data:`BF16_CPU_FLAGS` among the CPU's flags (None where ``cpuinfo`` cannot be read)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return None
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
    return tuple(f for f in BF16_CPU_FLAGS if f in flags)


def time_matmul(dtype: torch.dtype, repeats: int = 5, budget_s: float = 0.05) -> float:
    """Best wall time of a (512 × 256) · (256 × 256) matmul in ``dtype`` on the CPU (stops after
    ``repeats`` runs or ``budget_s`` seconds, whichever comes first)."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(512, 256, generator=generator).to(dtype)
    b = torch.randn(256, 256, generator=generator).to(dtype)
    a @ b  # warm-up: the first call pays for kernel selection
    best, start = float("inf"), time.perf_counter()
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
        if time.perf_counter() - start > budget_s:
            break
    return best


#: Interleaved fp32 / bf16 rounds of the probe (the best of each dtype counts).
PROBE_ROUNDS = 3


@functools.cache
def cpu_probe() -> CpuProbe:
    """Probe this CPU once per process, on one thread (see the module docstring)."""
    flags = cpu_bf16_flags()
    if flags == ():
        return CpuProbe(flags)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rounds = [(time_matmul(torch.float32), time_matmul(torch.bfloat16)) for _ in range(PROBE_ROUNDS)]
    finally:
        torch.set_num_threads(threads)
    return CpuProbe(flags, min(f for f, _ in rounds), min(b for _, b in rounds))


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """``fp32`` or ``bf16``: ``precision`` itself, or what ``auto`` picks on ``device`` (module docstring)."""
    if precision != "auto":
        return precision
    if torch.device(device).type != "cpu":
        return "bf16"
    return "bf16" if cpu_probe().bf16 else "fp32"


def autocast_context(device: torch.device | str, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast on any device type, or nothing for fp32 (``auto``: see :func:`resolve_precision`)."""
    device = torch.device(device)
    if resolve_precision(precision, device) == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def describe(precision: str, device: torch.device | str) -> str:
    """One line for the logs: the precision in use and, for ``auto`` on a CPU, why."""
    chosen = resolve_precision(precision, device)
    if precision != "auto" or torch.device(device).type != "cpu":
        return f"precision {chosen}" + (" (auto: accelerator)" if precision == "auto" else "")
    probe = cpu_probe()
    if probe.flags == ():
        return "precision fp32 (auto: this CPU has no bf16 matrix instructions)"
    flags = ", ".join(probe.flags) if probe.flags else "flags unknown"
    return (f"precision {chosen} (auto: {flags}; probe bf16 matmul {probe.speedup:.1f}x fp32, "
            f"bf16 needs >= {MIN_SPEEDUP}x)")
