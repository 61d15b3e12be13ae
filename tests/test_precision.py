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
