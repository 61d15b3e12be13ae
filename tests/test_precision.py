"""precision=auto: bf16 only where the CPU has bf16 matrix instructions and the probe finds it faster."""

import pytest
import torch

from omnimask import precision
from omnimask.precision import CpuProbe, cpu_bf16_flags, describe, resolve_precision


def test_bf16_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16 amx_tile\n\nprocessor\t: 1\n"
                    "flags\t\t: fpu sse2 avx512f avx512_bf16 amx_tile\n")
    assert cpu_bf16_flags(info) == ("avx512_bf16",)
    info.write_text("flags\t\t: fpu sse2 avx2 amx_bf16 avx512_bf16\n")
    assert cpu_bf16_flags(info) == ("amx_bf16", "avx512_bf16")
    info.write_text("flags\t\t: fpu sse2 avx2 fma\n")
    assert cpu_bf16_flags(info) == ()
    assert cpu_bf16_flags(tmp_path / "missing") is None


@pytest.mark.parametrize(("probe", "chosen"), [
    (CpuProbe(()), "fp32"),                                 # no bf16 instructions: not even probed
    (CpuProbe(("avx512_bf16",), 1.0e-3, 0.5e-3), "bf16"),   # 2x faster: bf16
    (CpuProbe(("avx512_bf16",), 1.0e-3, 0.9e-3), "fp32"),   # 1.1x: within the margin, fp32
    (CpuProbe(None, 1.0e-3, 0.3e-3), "bf16"),               # no cpuinfo: the probe alone decides
])
def test_auto_follows_the_probe_on_cpu_and_is_bf16_on_accelerators(monkeypatch, probe, chosen):
    monkeypatch.setattr(precision, "cpu_probe", lambda: probe)
    assert resolve_precision("auto", "cpu") == chosen
    assert describe("auto", "cpu").startswith(f"precision {chosen} (auto:")
    assert resolve_precision("auto", torch.device("meta")) == "bf16"
    assert resolve_precision("fp32", "cpu") == "fp32" and resolve_precision("bf16", "cpu") == "bf16"
    assert isinstance(precision.autocast_context("cpu", "auto"), torch.autocast) == (chosen == "bf16")


def test_the_real_probe_times_both_dtypes_only_where_bf16_instructions_exist():
    probe = precision.cpu_probe()
    if probe.flags == ():
        assert probe.fp32_s == probe.bf16_s == 0.0 and resolve_precision("auto", "cpu") == "fp32"
    else:
        assert probe.fp32_s > 0 and probe.bf16_s > 0
        assert resolve_precision("auto", "cpu") == ("bf16" if probe.speedup >= precision.MIN_SPEEDUP else "fp32")
    assert precision.cpu_probe() is probe  # once per process


def test_the_probe_times_on_one_thread_in_interleaved_rounds_and_restores_the_thread_count(monkeypatch):
    calls = []
    times = {torch.float32: iter([8e-4, 4e-4, 6e-4]), torch.bfloat16: iter([3e-4, 2e-4, 1e-4])}
    monkeypatch.setattr(precision, "cpu_bf16_flags", lambda: ("avx512_bf16",))
    monkeypatch.setattr(precision, "time_matmul",
                        lambda dtype: calls.append((dtype, torch.get_num_threads())) or next(times[dtype]))
    precision.cpu_probe.cache_clear()
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        probe = precision.cpu_probe()
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
        precision.cpu_probe.cache_clear()
    assert [d for d, _ in calls] == [torch.float32, torch.bfloat16] * precision.PROBE_ROUNDS
    assert {n for _, n in calls} == {1}
    assert probe.fp32_s == 4e-4 and probe.bf16_s == 1e-4  # the best round of each dtype
