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

Inference decides **per call** (:class:`InferencePrecision`): a generation step's forward passes are
small — an autoregressive token is one row per sample, a MaskGIT / ROAR decoder call a few dozen — and
at few rows bf16 loses on these CPUs: on a 2-core Xeon with AMX-BF16 a (1 × 256) · (256 × 256) matmul
takes 5.5 µs in fp32 and 25 µs in bf16 (41 µs under autocast, which casts the weight each call), the
crossover lies near 64 rows, and at 1 024 rows bf16 is 6× faster; on a 2-core AMD EPYC with
AVX512-BF16 the 256 × 30 000 logits of one token took 0.3 ms in bf16 and 1.6 ms in fp32, while its
small linears were faster in fp32. So ``auto`` times the call's own matmul shape once
(:func:`bf16_wins`, rows bucketed to powers of 4, cached) and runs the call in whichever dtype wins.
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
#: What a ``precision`` setting may say.
PRECISION_CHOICES: tuple[str, ...] = (*PRECISIONS, "auto")
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


def time_matmul(dtype: torch.dtype, repeats: int = 5, budget_s: float = 0.05, *, rows: int = 512,
                inner: int = 256, outer: int = 256, cast_weight: bool = False) -> float:
    """Best wall time of a (rows × inner) · (inner × outer) matmul in ``dtype`` on the CPU, the fp32
    activations cast to ``dtype`` inside the timing as autocast does (and the fp32 weight too with
    ``cast_weight``: an uncached autocast call). Stops after ``repeats`` runs or ``budget_s`` seconds."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(rows, inner, generator=generator)
    w = torch.randn(inner, outer, generator=generator)
    b = w if cast_weight else w.to(dtype)

    def run() -> torch.Tensor:
        return a.to(dtype) @ b.to(dtype)

    run()  # warm-up: the first call pays for kernel selection
    best, start = float("inf"), time.perf_counter()
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t0)
        if time.perf_counter() - start > budget_s:
            break
    return best


#: Interleaved fp32 / bf16 rounds of the probe (the best of each dtype counts).
PROBE_ROUNDS = 3


def _one_thread_rounds(rounds_n: int = PROBE_ROUNDS, **shape: float | bool) -> tuple[float, float]:
    """Best fp32 and bf16 times of :func:`time_matmul` (keyword arguments ``shape``) over ``rounds_n``
    interleaved rounds, on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rounds = [(time_matmul(torch.float32, **shape), time_matmul(torch.bfloat16, **shape))  # type: ignore[arg-type]
                  for _ in range(rounds_n)]
    finally:
        torch.set_num_threads(threads)
    return min(f for f, _ in rounds), min(b for _, b in rounds)


@functools.cache
def cpu_probe() -> CpuProbe:
    """Probe this CPU once per process, on one thread (see the module docstring)."""
    flags = cpu_bf16_flags()
    if flags == ():
        return CpuProbe(flags)
    return CpuProbe(flags, *_one_thread_rounds())


#: Row counts from which inference calls follow the batch-shaped :func:`cpu_probe` instead of their own.
BATCH_ROWS = 512
#: A per-call probe multiplies at most this many elements (about a millisecond in fp32 on one core): wider
#: outputs are probed at a narrower one with the same rows, where the comparison is compute-bound alike;
#: a few rows through a large head (one token's logits: memory-bound) stay whole.
PROBE_MACS = 1 << 25
#: Interleaved rounds, runs and time budget of each dtype's timing in a per-call probe: about 10 probes serve
#: a generation, and its first call pays for them (1.2 s with :func:`cpu_probe`'s settings and whole shapes).
CALL_PROBE_ROUNDS, CALL_PROBE_REPEATS, CALL_PROBE_BUDGET_S = 2, 3, 0.004


def row_bucket(rows: int) -> int:
    """The power of 4 at or above ``rows`` (1, 4, 16, 64, 256): the row counts :func:`bf16_wins` probes."""
    bucket = 1
    while bucket < rows:
        bucket *= 4
    return bucket


@functools.cache
def bf16_wins(rows: int, inner: int, outer: int, cast_weight: bool) -> bool:
    """Whether this CPU runs a (rows × inner) · (inner × outer) matmul at least :data:`MIN_SPEEDUP` times
    faster in bf16 than in fp32 (``cast_weight``: the bf16 side also casts the fp32 weight, as an autocast
    call does when its cast is not cached). False on CPUs without bf16 matrix instructions (not probed);
    calls of :data:`BATCH_ROWS` rows or more take :func:`cpu_probe`'s answer. Probed once per argument set
    (a few ms: :data:`CALL_PROBE_ROUNDS` interleaved rounds on one thread like :func:`cpu_probe`, at most
    :data:`PROBE_MACS` multiply-adds)."""
    probe = cpu_probe()
    if probe.flags == () or rows >= BATCH_ROWS:
        return probe.bf16
    if rows * inner * outer > PROBE_MACS:
        outer = max(min(outer, inner), PROBE_MACS // (rows * inner))
    fp32_s, bf16_s = _one_thread_rounds(CALL_PROBE_ROUNDS, rows=rows, inner=inner, outer=outer, cast_weight=cast_weight,
                                        repeats=CALL_PROBE_REPEATS, budget_s=CALL_PROBE_BUDGET_S)
    return fp32_s >= MIN_SPEEDUP * bf16_s


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


@dataclasses.dataclass(frozen=True)
class InferencePrecision:
    """The precision of each forward call of inference (generation, evaluation; module docstring).

    ``fp32`` and ``bf16`` hold for every call; ``auto`` on an accelerator is bf16, on a CPU it is decided
    per call by :func:`bf16_wins` at the call's matmul shape.

    Args:
        device: where the model runs.
        precision: ``fp32``, ``bf16`` or ``auto``.
    """

    device: torch.device
    precision: str

    def __post_init__(self) -> None:
        if self.precision not in PRECISION_CHOICES:
            raise ValueError(f"precision must be one of {PRECISION_CHOICES}, got {self.precision!r}")

    def dtype(self, rows: int, inner: int, outer: int, cached_weights: bool = False) -> torch.dtype:
        """The dtype of a call through (rows × inner) · (inner × outer) matmuls; ``cached_weights``: the
        call repeats within one :meth:`step` (autoregressive tokens), so its weights are cast to bf16 once."""
        if self.precision != "auto":
            return torch.bfloat16 if self.precision == "bf16" else torch.float32
        if self.device.type != "cpu":
            return torch.bfloat16
        wins = bf16_wins(row_bucket(rows), inner, outer, not cached_weights)
        return torch.bfloat16 if wins else torch.float32

    def call(self, dtype: torch.dtype) -> contextlib.AbstractContextManager:
        """Run the enclosed call in ``dtype``: bf16 autocast, or autocast switched off (fp32 inputs needed)."""
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=dtype == torch.bfloat16)

    def step(self) -> contextlib.AbstractContextManager:
        """Enclose one generation step: its calls share bf16 weight casts (autocast's cache lives until the
        outermost autocast context exits; this is that context, switched off)."""
        return torch.autocast(device_type=self.device.type, enabled=False)
