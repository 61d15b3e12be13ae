"""The tokenizer training loop on the tiny recipe: outputs, determinism, exact resume, the CLI action.

Slow: the first AdamW a process builds imports torch._dynamo (seconds on a loaded machine), and each
test renders and trains; the optimizer-free pieces are tested in test_tokenizer_pieces.py.
"""

import json

import pytest
import torch
from safetensors.torch import load_file

from omnimask.cli import main
from omnimask.config import ConfigError, apply_overrides
from omnimask.tokenizers.base import ModalityTokenizer
from omnimask.training.tokenizers.loop import TokenizerTrainer, train_tokenizer
from omnimask.training.tokenizers.recipes import TOKENIZER_RECIPES, tokenizer_recipe


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("maps")


def tiny(cache, modality="depth", **changes):
    sets = [f"data.cache={cache}"] + [f"{k}={v}" for k, v in changes.items()]
    return apply_overrides(tokenizer_recipe("tiny", modality), sets)


def weights(folder):
    return load_file(str(folder / "model.safetensors"))


@pytest.mark.slow  # trains tokenizers end to end (see module docstring)
def test_run_writes_every_output_and_a_loadable_tokenizer(tmp_path, cache):
    result = train_tokenizer(tiny(cache), tmp_path, progress=False)
    assert result["steps"] == 4 and result["val"]["samples"] > 0
    assert 0 <= result["val"]["delta1"] <= 1 and 0 < result["val"]["codebook_usage"] <= 1
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["split"] == "train"]
    assert [r["step"] for r in train] == [2, 4] and all(0 < r["codebook_usage"] <= 1 for r in train)
    assert sorted(p.name for p in (tmp_path / "samples").glob("*.png")) == ["step_000002.png", "step_000004.png"]
    assert json.loads((tmp_path / "metrics.json").read_text())["val"] == result["val"]
    tok = ModalityTokenizer.load(tmp_path / "tokenizer")
    assert tok.card.input.normalization == "depth_log" and tok.card.codebook_size == 64


@pytest.mark.slow  # trains tokenizers end to end (see module docstring)
def test_same_seed_same_weights_and_resume_is_exact(tmp_path, cache, monkeypatch):
    train_tokenizer(tiny(cache), tmp_path / "a", progress=False)
    step = TokenizerTrainer.train_step

    def interrupted(self):
        if self.step == 2:  # the checkpoint of step 2 is on disk
            raise KeyboardInterrupt
        return step(self)

    monkeypatch.setattr(TokenizerTrainer, "train_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_tokenizer(tiny(cache), tmp_path / "b", progress=False)
    monkeypatch.setattr(TokenizerTrainer, "train_step", step)
    with pytest.raises(ConfigError, match="--resume"):
        train_tokenizer(tiny(cache), tmp_path / "b", progress=False)
    with pytest.raises(ConfigError, match="differ"):
        train_tokenizer(tiny(cache, seed=1), tmp_path / "b", resume=True, progress=False)
    assert train_tokenizer(tiny(cache), tmp_path / "b", resume=True, progress=False)["steps"] == 4
    a, b = weights(tmp_path / "a" / "tokenizer"), weights(tmp_path / "b" / "tokenizer")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    c = weights(train_tokenizer(tiny(cache, seed=1), tmp_path / "c", progress=False) and tmp_path / "c" / "tokenizer")
    assert not torch.equal(a["encoder.proj.weight"], c["encoder.proj.weight"])


@pytest.mark.slow  # trains tokenizers end to end (see module docstring)
def test_cli_trains_semseg_and_unknown_names_are_errors(tmp_path, cache, capsys):
    out = tmp_path / "seg"
    code = main(["tokenizer", "train", "--modality", "semseg", "--recipe", "tiny", "--out", str(out), "--quiet",
                 "--set", f"data.cache={cache}", "--set", "steps=2"])  # fmt: skip
    assert code == 0 and "miou" in capsys.readouterr().out
    assert ModalityTokenizer.load(out / "tokenizer").card.output == "class_logits"
    assert main(["tokenizer", "train", "--modality", "sound", "--recipe", "tiny", "--out", str(tmp_path / "x")]) == 2
    assert "unknown modality" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="known"):
        tokenizer_recipe("huge", "rgb")
    assert set(TOKENIZER_RECIPES) >= {"synth64", "tiny"}
