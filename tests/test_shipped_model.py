"""The SynthWorld 4M shipped in the package (``omnimask/assets/models/synth_small``): small, loadable,
and better than trivial baselines on scenes it never saw."""

import json

import pytest

from omnimask.evaluation import evaluate
from omnimask.loading import shipped_model_path
from omnimask.modalities import synthworld_modalities
from omnimask.model.checkpoint import load_pretrained
from omnimask.tokenizers.bundle import load_tokenizers, shipped_bundle_path


def _size(path):
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def test_shipped_model_is_small_and_complete():
    folder = shipped_model_path()
    assert (_size(folder) + _size(shipped_bundle_path())) < 30 * 2**20  # the model with its tokenizers
    model = load_pretrained(folder)
    specs = synthworld_modalities(resolution=64)
    assert set(model.input_modalities) == set(specs)
    assert set(model.output_modalities) == {n for n, s in specs.items() if s.kind != "pixels"}
    assert set(load_tokenizers(folder)) == set(model.output_modalities)
    manifest = json.loads((folder / "tokenizers" / "manifest.json").read_text())
    assert all(e["path"].startswith("shipped:synthworld64/") for e in manifest.values())


@pytest.fixture(scope="module")
def report():
    return evaluate(shipped_model_path(), "synth:seed=3,num=16", tasks="depth,semseg,caption", progress=False)


@pytest.mark.parametrize(("task", "key", "higher"), [
    ("depth", "delta1", True), ("depth", "abs_rel", False), ("semseg", "miou", True), ("caption", "attributes", True),
])  # fmt: skip
def test_shipped_model_beats_the_trivial_baseline_out_of_the_box(report, task, key, higher):
    values = report.result(task).values
    model, baseline = values["model"][key], values["baseline"][key]
    assert (model > baseline) if higher else (model < baseline), f"{task} {key}: model {model} vs {baseline}"


def test_the_demo_runs_on_the_shipped_model_by_default(tmp_path):
    from omnimask.demo import build_demo

    result = build_demo(tmp_path, only=["1", "7"], num=2, cell=64, log=lambda _: None)
    assert result.model == shipped_model_path()
    assert [f.slug for f in result.figures] == ["1_rgb_to_all", "7_retrieval"]
    assert not any(f.skipped for f in result.figures) and all(p.stat().st_size > 0 for p in result.pictures)
    assert all(f"{f.slug}.png" in result.index.read_text() for f in result.figures)
