"""``omnimask synth`` writes the per-modality layout and manifest, resumes, and previews."""

import json

import numpy as np
import pytest
from PIL import Image

from omnimask.cli import main
from omnimask.config import load_config
from omnimask.data.synthworld import SynthWorldConfig, assign_splits, load_sample, render_sample, write_dataset
from omnimask.data.synthworld.config import SEMANTIC_CLASSES, SynthRunConfig
from omnimask.data.synthworld.dataset import SPLITS
from omnimask.data.synthworld.writer import MODALITY_FILES, sample_paths

ARGS = ["synth", "--num", "6", "--resolution", "32", "--seed", "2", "--quiet"]


def _files(root):
    return {p.relative_to(root): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_synth_writes_layout_manifest_and_config(tmp_path, capsys):
    out = tmp_path / "ds"
    assert main([*ARGS, "--out", str(out)]) == 0
    assert "wrote 6" in capsys.readouterr().out
    info = json.loads((out / "manifest.json").read_text())
    assert info["complete"] and info["num"] == 6 and info["seed"] == 2 and info["resolution"] == 32
    assert sum(info["splits"].values()) == 6 and info["semantic_classes"] == list(SEMANTIC_CLASSES)
    assert info["generator_version"] and info["layout"] == "{split}/{modality}/{key}.{ext}"
    run = load_config(SynthRunConfig, out / "config.json")
    assert run.num == 6 and run.world.resolution == 32
    cfg = SynthWorldConfig(resolution=32)
    for index, split in enumerate(assign_splits(2, np.arange(6))):
        key = f"{index:06d}"
        paths = sample_paths(out, SPLITS[split], key)
        assert all(p.exists() for p in paths.values()) and set(paths) == set(MODALITY_FILES)
        disk, fresh = load_sample(out, SPLITS[split], key), render_sample(2, index, cfg)
        for name in ("rgb", "semseg", "instance", "edges"):
            np.testing.assert_array_equal(disk[name], fresh[name])
        np.testing.assert_allclose(disk["depth"], fresh["depth"], atol=5e-4)  # millimetre PNG
        np.testing.assert_allclose(disk["normal"], fresh["normal"], atol=1 / 127.5)
        for name in ("det", "caption", "color_palette", "metadata", "scene"):
            assert disk[name] == fresh[name]
        assert Image.open(paths["depth"]).mode.startswith("I")  # 16-bit
    assert not list(out.rglob("*.tmp"))


def test_synth_resumes_without_rewriting(tmp_path, capsys):
    out = tmp_path / "ds"
    assert main([*ARGS, "--out", str(out)]) == 0
    before = _files(out)
    capsys.readouterr()
    assert main([*ARGS, "--out", str(out)]) == 0
    assert "wrote 0" in capsys.readouterr().out
    after = _files(out)
    samples = {p for p in before if p.name not in ("manifest.json", "config.json")}
    assert len(samples) == 6 * len(MODALITY_FILES)
    assert {p: before[p] for p in samples} == {p: after[p] for p in samples}  # untouched

    # An interrupted run: one sample lost a file. Only that sample is rendered again.
    split = SPLITS[assign_splits(2, np.arange(6))[4]]
    victim = sample_paths(out, split, "000004")["normal"]
    victim.unlink()
    stale = victim.with_name(f".{victim.name}.999.tmp")
    stale.write_bytes(b"half a png")
    assert main([*ARGS, "--out", str(out)]) == 0
    assert "wrote 1" in capsys.readouterr().out and victim.exists() and not stale.exists()


def test_synth_refuses_to_mix_settings(tmp_path, capsys):
    out = tmp_path / "ds"
    write_dataset(out, 2, seed=2, cfg=SynthWorldConfig(resolution=32), progress=False)
    assert main(["synth", "--out", str(out), "--num", "2", "--resolution", "32", "--seed", "3", "--quiet"]) == 2
    assert "seed" in capsys.readouterr().err


@pytest.mark.slow  # reason: starts two spawned worker processes (~3 s on a loaded 2-core machine)
def test_workers_write_the_same_bytes(tmp_path):
    cfg = SynthWorldConfig(resolution=32)
    _, n1 = write_dataset(tmp_path / "one", 4, seed=1, cfg=cfg, workers=1, progress=False)
    _, n2 = write_dataset(tmp_path / "two", 4, seed=1, cfg=cfg, workers=2, progress=False)
    assert n1 == n2 == 4
    one = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*.*"))
    assert one == sorted(p.relative_to(tmp_path / "two") for p in (tmp_path / "two").rglob("*.*"))
    for rel in one:
        assert (tmp_path / "one" / rel).read_bytes() == (tmp_path / "two" / rel).read_bytes()


def test_preview_alone_draws_a_grid(tmp_path):
    png = tmp_path / "preview.png"
    assert main(["synth", "--preview", str(png), "--rows", "2", "--resolution", "32", "--cell", "64"]) == 0
    img = Image.open(png)
    assert img.width == 7 * (64 + 4) + 4 and img.height > 2 * 64
    assert not (tmp_path / "manifest.json").exists()


def test_synth_needs_something_to_do(capsys):
    assert main(["synth"]) == 2
    assert "--out" in capsys.readouterr().err


@pytest.mark.parametrize("override", ["world.wall_prob=2", "world.colour=red"])
def test_synth_rejects_bad_overrides(tmp_path, override):
    assert main([*ARGS, "--out", str(tmp_path), "--set", override]) == 2


def test_a_huge_num_starts_writing_at_once_in_bounded_memory(tmp_path, monkeypatch):
    import resource
    import time

    from omnimask.data.synthworld import writer

    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def first_job(job):
        raise KeyboardInterrupt  # stop as soon as the first scenes would be written

    monkeypatch.setattr(writer, "_write_keys", first_job)
    with pytest.raises(KeyboardInterrupt):
        writer.write_dataset(tmp_path / "ds", 10**8, progress=False)
    assert time.perf_counter() - started < 30  # not a scan of 10^8 scenes (10^9 file checks) first
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB
