"""The harness end to end on a tiny random 4M with a k-means bundle: report structure, ceilings,
baselines, n/a rows that explain themselves, specialists, determinism."""

import copy
import json

import numpy as np
import pytest
from eval_doubles import ARCH, GLOBAL_NAME, FakeGlobalTokenizer, FakeLabeler, PerfectMapTokenizer

from omnimask.evaluation import TASKS, Predictor, evaluate, run_task
from omnimask.evaluation.harness import add_global_embeddings
from omnimask.evaluation.predict import RGB, Ref
from omnimask.evaluation.report import COLUMNS, NOT_GIVEN, Report, TaskResult
from omnimask.model import FourM, config_for_specs
from omnimask.tokenizers.bundle import save_tokenizers


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, model, bundle):
    folder = tmp_path_factory.mktemp("model")
    model.save_pretrained(folder)
    save_tokenizers(bundle, folder / "tokenizers")
    return folder


def test_report_structure_end_to_end(model_dir, tmp_path):
    report = evaluate(model_dir, "synth:seed=5,num=4", tasks="depth,semseg,det,caption,caption2rgb,retrieval_depth2rgb",
                      labeler=None, batch_size=3, progress=False)
    assert [r.task for r in report.results] == ["depth", "semseg", "det", "caption", "caption2rgb",
                                                "retrieval_depth2rgb"]
    assert report.meta["scenes"] == 4 and report.meta["data"].startswith("synth:seed=5,num=4")
    depth = report.result("depth")
    for column in ("model", "ceiling", "baseline", "truth"):
        assert set(depth.values[column]) == {"abs_rel", "delta1"}
    assert depth.values["truth"] == {"abs_rel": 0.0, "delta1": 1.0}
    assert 0.0 <= depth.values["ceiling"]["delta1"] <= 1.0
    assert depth.values["specialist"] is None and depth.notes["specialist"] == NOT_GIVEN
    assert report.result("semseg").values["truth"]["miou"] == 1.0
    assert report.result("det").values["truth"]["map50"] == 1.0
    assert report.result("caption").values["truth"]["attributes"] == 1.0
    for task in ("caption2rgb", "retrieval_depth2rgb"):  # no labeler: every column n/a, saying why
        result = report.result(task)
        assert all(v is None for v in result.values.values())
        assert all("labeler" in note for note in result.notes.values())
    rows = report.rows()
    assert len(rows) == sum(len(TASKS[r.task].headlines) for r in report.results)
    table = report.markdown()
    assert "| RGB → depth | δ1 ↑ |" in table and "—" in table and "n/a [1]" in table and "[1] model:" in table
    paths = report.save(tmp_path / "out")
    data = json.loads(paths["json"].read_text())
    assert data["tasks"]["depth"]["values"]["truth"]["delta1"] == 1.0
    assert paths["markdown"].read_text() == table
    assert paths["figure"].stat().st_size > 0


def test_perfect_tokenizer_ceiling_equals_ground_truth(model, bundle, scenes):
    predictor = Predictor(model, {**bundle, "tok_depth@16": PerfectMapTokenizer()})
    result = run_task(TASKS["depth"], scenes, predictor)
    assert result.values["ceiling"] == result.values["truth"] == {"abs_rel": 0.0, "delta1": 1.0}
    caption = run_task(TASKS["caption"], scenes, predictor)  # WordPiece round trips keep every statement
    assert caption.values["ceiling"] == caption.values["truth"]
    kmeans = run_task(TASKS["semseg"], scenes, Predictor(model, bundle))
    assert kmeans.values["ceiling"]["miou"] < kmeans.values["truth"]["miou"] == 1.0  # 4×4-px patches lose detail


def test_missing_modalities_make_explained_na_cells(specs, bundle, scenes):
    small = {n: specs[n] for n in ("rgb@16", "tok_depth@16")}
    specialist = FourM(config_for_specs(small, inputs=["rgb@16"], outputs=["tok_depth@16"], **ARCH)).eval()
    predictor = Predictor(specialist, bundle, name="depth-only")
    det = run_task(TASKS["det"], scenes, predictor)
    assert det.values["model"] is None and "no det modality" in det.notes["model"]
    assert det.values["ceiling"] is None and det.values["baseline"] is not None
    with_global = copy.deepcopy(scenes)
    add_global_embeddings(with_global, FakeLabeler())
    retrieval = run_task(TASKS["retrieval_rgb2caption"], with_global, predictor, labeler=FakeLabeler())
    assert "global-embedding" in retrieval.notes["model"]
    assert retrieval.values["baseline"]["r@1"] == pytest.approx(0.25)  # chance among 4


def test_specialist_column(model, bundle, specs, scenes):
    small = {n: specs[n] for n in ("rgb@16", "tok_depth@16")}
    specialist = FourM(config_for_specs(small, inputs=["rgb@16"], outputs=["tok_depth@16"], **ARCH)).eval()
    result = run_task(TASKS["depth"], scenes, Predictor(model, bundle), specialist=Predictor(specialist, bundle))
    assert set(result.values["specialist"]) == {"abs_rel", "delta1"} and "specialist" not in result.notes
    assert set(result.examples[0].outputs) == {"model", "specialist", "ceiling", "baseline", "truth"}


def test_a_target_that_is_no_input_is_decoded_in_one_pass(bundle, specs, scenes):
    small = {n: specs[n] for n in ("rgb@16", "tok_depth@16")}
    specialist = FourM(config_for_specs(small, inputs=["rgb@16"], outputs=["tok_depth@16"], **ARCH)).eval()
    predictor = Predictor(specialist, bundle)
    many_steps = predictor.predict(scenes, (RGB,), Ref("image_tokens", "depth"), {"num_steps": 8})
    one_pass = predictor.predict(scenes, (RGB,), Ref("image_tokens", "depth"), {"num_steps": 1})
    assert len(many_steps) == len(scenes) and all(np.array_equal(a, b) for a, b in zip(many_steps, one_pass))


def test_retrieval_and_caption_to_rgb_with_global_tokens(model, bundle, scenes):
    tokenizers = {**bundle, GLOBAL_NAME: FakeGlobalTokenizer()}
    labeled = copy.deepcopy(scenes)
    add_global_embeddings(labeled, FakeLabeler())
    assert labeled[0]["global"].shape == (4,)
    result = run_task(TASKS["retrieval_depth2rgb"], labeled, Predictor(model, tokenizers), labeler=FakeLabeler())
    assert result.values["truth"]["r@1"] == 1.0 and result.values["baseline"]["r@1"] == pytest.approx(0.25)
    assert 0.0 <= result.values["model"]["r@1"] <= result.values["model"]["r@5"] == 1.0  # 4 items: R@5 = 1
    assert result.values["ceiling"]["r@1"] <= 1.0
    t2i = run_task(TASKS["caption2rgb"], labeled, Predictor(model, tokenizers), labeler=FakeLabeler())
    assert t2i.examples[0].outputs["model"].shape == (16, 16, 3)
    assert t2i.values["model"]["pool"] == 4 and "clip_score" in t2i.values["truth"]


def test_results_repeat_under_a_seed(model, bundle, scenes):
    def run(seed):
        return run_task(TASKS["caption2rgb"], scenes, Predictor(model, bundle, batch_size=2), labeler=FakeLabeler(),
                        seed=seed)

    first, again = run(7), run(7)
    assert first.values == again.values
    for a, b in zip(first.examples, again.examples):
        np.testing.assert_array_equal(a.outputs["model"], b.outputs["model"])


def test_box_placement_task_scores_the_scenes_own_images(model_dir):
    report = evaluate(model_dir, "synth:seed=5,num=4", tasks="boxes2rgb", labeler=None, batch_size=4, progress=False)
    result = report.result("boxes2rgb")
    assert 0.3 < result.values["truth"]["in_boxes"] <= 1.0  # the scenes' own objects lie in their boxes
    assert 0.0 <= result.values["model"]["in_boxes"] <= 1.0 and result.values["model"]["images"] == 4


def test_a_measured_but_undefined_metric_says_so_in_the_table():
    values = {c: None for c in COLUMNS}
    values["baseline"] = {"in_boxes": float("nan"), "judged": 0.0, "images": 100.0}
    values["truth"] = {"in_boxes": 0.69, "judged": 100.0, "images": 100.0}
    table = Report([TaskResult("boxes2rgb", "caption + boxes → RGB", values, {"specialist": NOT_GIVEN}, 0.0)],
                   {}).markdown()
    assert "| 0.690 |" in table
    assert "] trivial baseline: foreground inside the boxes is undefined on its predictions" in table
    assert "model: not measured" in table  # a column never run keeps the generic note
