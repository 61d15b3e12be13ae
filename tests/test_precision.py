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


def test_row_buckets_are_powers_of_four():
    assert [precision.row_bucket(n) for n in (0, 1, 2, 4, 5, 16, 17, 300)] == [1, 1, 4, 4, 16, 16, 64, 1024]


def test_bf16_wins_probes_the_calls_own_shape_and_defers_wide_calls_to_the_batch_probe(monkeypatch):
    shapes = []

    def fake_time(dtype, **shape):
        shapes.append((dtype, shape))
        few_rows = shape.get("rows", 512) < 64
        return {torch.float32: 1e-5 if few_rows else 4e-4, torch.bfloat16: 3e-5 if few_rows else 1e-4}[dtype]

    monkeypatch.setattr(precision, "cpu_bf16_flags", lambda: ("amx_bf16",))
    monkeypatch.setattr(precision, "time_matmul", fake_time)
    precision.cpu_probe.cache_clear()
    precision.bf16_wins.cache_clear()
    try:
        assert not precision.bf16_wins(1, 256, 768, True)      # one row: fp32 3x faster
        assert precision.bf16_wins(64, 256, 768, True)         # 64 rows: bf16 4x faster
        probed = len(shapes)
        assert precision.bf16_wins(4096, 256, 768, True)       # wide: the batch probe's answer, no new probe
        assert precision.bf16_wins(64, 256, 768, True) and len(shapes) == probed  # cached
    finally:
        precision.cpu_probe.cache_clear()
        precision.bf16_wins.cache_clear()
    probed_shapes = [{k: s[k] for k in ("rows", "inner", "outer", "cast_weight") if k in s} for _, s in shapes]
    assert {"rows": 1, "inner": 256, "outer": 768, "cast_weight": True} in probed_shapes
    precision.bf16_wins.cache_clear()
    shapes.clear()
    try:
        precision.bf16_wins(256, 256, 30000, False)  # 2 G multiply-adds: probed at a narrower output
        precision.bf16_wins(1, 256, 30000, True)  # one token's logits: memory-bound, probed whole
    finally:
        precision.bf16_wins.cache_clear()
    outers = {(s["rows"], s["outer"]) for _, s in shapes if "rows" in s}  # not the batch probe
    assert outers == {(256, precision.PROBE_MACS // (256 * 256)), (1, 30000)}, outers
    monkeypatch.setattr(precision, "cpu_bf16_flags", lambda: ())
    precision.cpu_probe.cache_clear()
    probed = len(shapes)
    try:
        assert not precision.bf16_wins(64, 256, 768, True) and len(shapes) == probed  # no bf16 units: no probe
    finally:
        precision.cpu_probe.cache_clear()
        precision.bf16_wins.cache_clear()


def test_inference_precision_is_explicit_or_per_call(monkeypatch):
    monkeypatch.setattr(precision, "bf16_wins", lambda rows, inner, outer, cast: outer > 1000 and not cast)
    cpu = torch.device("cpu")
    auto = precision.InferencePrecision(cpu, "auto")
    assert auto.dtype(1, 256, 768) == torch.float32
    assert auto.dtype(1, 256, 30000) == torch.float32                       # weight cast each call: fp32
    assert auto.dtype(1, 256, 30000, cached_weights=True) == torch.bfloat16  # cast once per step: bf16
    for explicit, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        assert precision.InferencePrecision(cpu, explicit).dtype(1, 256, 30000, True) == dtype
    assert precision.InferencePrecision(torch.device("meta"), "auto").dtype(1, 256, 768) == torch.bfloat16
    with pytest.raises(ValueError, match="precision must be one of"):
        precision.InferencePrecision(cpu, "fp16")
    with auto.call(torch.bfloat16):
        assert torch.is_autocast_enabled("cpu")
        with auto.call(torch.float32):
            assert not torch.is_autocast_enabled("cpu")
            assert (torch.ones(2, 3) @ torch.ones(3, 2)).dtype == torch.float32
