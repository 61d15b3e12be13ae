"""``omnimask eval`` arguments, data specs and the ``synth_specialist`` recipe."""

import argparse

import numpy as np
import pytest

from omnimask.commands import eval as eval_command
from omnimask.config import ConfigError
from omnimask.data.synthworld import SynthWorldConfig, render_sample, write_dataset
from omnimask.evaluation import load_scenes, parse_data_spec, select_tasks
from omnimask.evaluation.harness import specialists_by_task
from omnimask.masking import Masker
from omnimask.recipes import synth_small
from omnimask.recipes.specialist import SPECIALIST_TASKS, synth_specialist
from omnimask.tokenizers.bundle import save_tokenizers


def test_data_specs():
    spec = parse_data_spec("synth:seed=3,num=5,start=2")
    assert (spec.source, spec.seed, spec.num, spec.start) == ("synth", 3, 5, 2)
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_data_spec("synth:seed=3,count=5")
    with pytest.raises(ConfigError, match="not an integer"):
        parse_data_spec("synth:seed=x")
    with pytest.raises(ConfigError, match=r"manifest\.json"):
        parse_data_spec("/nonexistent/folder")


def test_scenes_from_synth_and_from_a_dataset_folder(tmp_path):
    scenes, spec = load_scenes(parse_data_spec("synth:seed=2,num=2,start=1"), resolution=16, progress=False)
    assert spec.resolution == 16 and [s["index"] for s in scenes] == [1, 2]
    write_dataset(tmp_path, 2, seed=2, cfg=SynthWorldConfig(resolution=16), fractions=(0, 0, 1), progress=False)
    folder, _ = load_scenes(parse_data_spec(str(tmp_path)), resolution=16, progress=False)
    assert [s["key"] for s in folder] == ["000000", "000001"]
    np.testing.assert_array_equal(folder[1]["rgb"], render_sample(2, 1, SynthWorldConfig(resolution=16))["rgb"])
    with pytest.raises(ConfigError, match="64 px"):
        load_scenes(parse_data_spec(str(tmp_path)), resolution=64, progress=False)


def test_task_selection():
    assert [t.name for t in select_tasks("depth,retrieval")][:2] == ["depth", "retrieval_caption2rgb"]
    assert len(select_tasks(None)) == len(select_tasks("all"))
    with pytest.raises(KeyError, match="unknown task"):
        select_tasks("depht")


def _parser():
    parser = argparse.ArgumentParser()
    eval_command.register(parser.add_subparsers())
    return parser


def test_cli_prints_and_writes_the_table(tmp_path, model, bundle, capsys):
    model.save_pretrained(tmp_path / "m")
    save_tokenizers(bundle, tmp_path / "m" / "tokenizers")
    args = _parser().parse_args(["eval", "--model", str(tmp_path / "m"), "--data", "synth:seed=5,num=3",
                                 "--tasks", "depth,semseg", "--out", str(tmp_path / "out"),
                                 "--specialist", f"depth={tmp_path / 'm'}"])  # fmt: skip
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "| RGB → depth | abs. rel. error ↓ |" in printed and "| RGB → semseg | mIoU ↑ |" in printed
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"eval.json", "eval.md", "eval.png"}


def test_cli_rejects_bad_specialists():
    assert eval_command.parse_specialists(["depth=a", "det=b"]) == {"depth": "a", "det": "b"}
    with pytest.raises(ConfigError, match="TASK=DIR"):
        eval_command.parse_specialists(["depth"])
    with pytest.raises(ConfigError, match="twice"):
        eval_command.parse_specialists(["depth=a", "depth=b"])


def test_specialist_recipe_trains_one_task_on_the_same_token_budget():
    base = synth_small()
    base_tokens = base.steps * base.batch_size * (base.masking.num_input_tokens + base.masking.num_target_tokens)
    for task in SPECIALIST_TASKS:
        cfg = synth_specialist(task)
        per_step = cfg.batch_size * (cfg.masking.num_input_tokens + cfg.masking.num_target_tokens)
        assert base_tokens <= cfg.steps * per_step < base_tokens + per_step
        arch = (cfg.model.dim, cfg.model.encoder_depth, cfg.model.decoder_depth)
        assert (arch, cfg.optim, cfg.data) == ((128, 4, 4), base.optim, base.data)
        assert len(cfg.model.outputs) == 1
    depth = synth_specialist("depth")
    assert (depth.model.inputs, depth.model.outputs) == (["rgb@64"], ["tok_depth@64"])
    assert depth.steps == base.steps * 192 // 128  # 64 + 64 tokens per sample instead of 96 + 96
    caption = synth_specialist("caption")
    assert caption.model.inputs == ["rgb@64", "caption"] and caption.masking.num_target_tokens == 48
    masker = Masker(caption.model.specs(), caption.masking)
    sample = {"rgb@64": np.zeros((3, 64, 64), np.float32), "caption": [np.arange(300, 320)]}
    masked = masker(sample, np.random.default_rng(0))
    assert masked["rgb@64"].input_keep.all() and not masked["caption"].input_keep.any()
    with pytest.raises(ConfigError, match="no specialist"):
        synth_specialist("retrieval_rgb2caption")


def test_retrieval_specialist_predicts_the_global_embedding_from_one_source_per_sample():
    cfg = synth_specialist("retrieval")
    assert cfg.model.inputs == ["rgb@64", "caption", "tok_depth@64", "tok_semseg@64"]
    assert cfg.model.outputs == ["tok_clip_global"] and cfg.masking.num_target_tokens == 4
    masker = Masker(cfg.model.specs(), cfg.masking)
    sample = {"rgb@64": np.zeros((3, 64, 64), np.float32), "caption": [np.arange(300, 320)],
              "tok_depth@64": np.arange(64), "tok_semseg@64": np.arange(64), "tok_clip_global": np.arange(4)}
    rng = np.random.default_rng(0)
    sources = []
    for _ in range(80):
        masked = masker(sample, rng)
        given = [name for name in cfg.model.inputs if masked[name].input_keep.any()]
        whole = 21 if given == ["caption"] else 64  # the caption's 20 ids and [EOS]; 64 patches or tokens
        assert len(given) == 1 and masked[given[0]].input_keep.sum() == whole
        assert masked["tok_clip_global"].target_keep.all()
        sources += given
    assert set(sources) == set(cfg.model.inputs)


def test_specialists_by_task_expands_groups():
    chosen = ["depth", "retrieval_caption2rgb", "retrieval_rgb2caption"]
    assert specialists_by_task({"depth": "d", "retrieval": "r"}, chosen) == {
        "depth": "d", "retrieval_caption2rgb": "r", "retrieval_rgb2caption": "r"}
    with pytest.raises(KeyError, match="names none"):
        specialists_by_task({"semseg": "s"}, chosen)
    with pytest.raises(KeyError, match="two specialists"):
        specialists_by_task({"retrieval": "r", "retrieval_rgb2caption": "x"}, chosen)
