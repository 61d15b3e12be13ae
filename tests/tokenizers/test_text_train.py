"""Training a 4M-layout WordPiece vocabulary, and the ``omnimask tokenizer train-text`` command."""

from __future__ import annotations

import argparse
import json
import sys
import types

import pytest
from reference_paths import FIXTURES

from omnimask.commands import tokenizer as tokenizer_command
from omnimask.config import ConfigError
from omnimask.tokenizers.text import TextLayout, TextLayoutError, TextTokenizer, train_text_tokenizer

CAPTIONS = [
    "a red cube next to a blue sphere",
    "two green cylinders behind a yellow cone",
    "a small purple torus on the floor",
    "A large Capsule left of a red cube",
    "three spheres and a cube in front of the wall",
] * 20
SHAPES = ["sphere", "cube", "cylinder", "cone", "Torus", "red cube"]



@pytest.fixture(scope="module")
def trained() -> TextTokenizer:
    return train_text_tokenizer(CAPTIONS, 4400, SHAPES)


def test_trained_layout_matches_4m(trained):
    lay = trained.layout
    assert (lay.num_sentinels, lay.coord_bins) == (200, 1000)
    assert lay.class_names == ("sphere", "cube", "cylinder", "cone", "torus", "red cube")  # normalised
    assert [trained.id_to_token(i) for i in (0, 1, 2, 3, 4, 5, 203, 204, 4203)] == [
        "[PAD]", "[UNK]", "[SOS]", "[EOS]", "[S_0]", "[S_1]", "[S_199]", "v0=0", "v3=999",
    ]  # fmt: skip
    assert trained.token_to_id("sphere") == 4204 and trained.token_to_id("red cube") == 4209
    assert lay.first_wordpiece_id == 4210
    assert 4210 < trained.vocab_size <= 4400
    ids = trained.encode("A Red Cube next to a torus [S_1] v0=3 v2=999")
    assert ids[1] == 4209 and ids[-5:] == [trained.token_to_id("a"), 4208, 5, 207, 2204 + 999]
    assert trained.decode(ids, skip_special=True) == "a red cube next to a torus v0=3 v2=999"


def test_trained_reserved_tokens_equal_released_ones(trained):
    released_path = FIXTURES / "text_tokenizer.json"
    if not released_path.is_file():
        pytest.skip(f"4M reference fixtures not found at {FIXTURES} (set OMNIMASK_REFERENCE_FIXTURES)")
    released = json.loads(released_path.read_text())["added_tokens"]
    ours = json.loads(trained.to_str())["added_tokens"]
    assert ours[:4204] == released[:4204]  # control, sentinel and coordinate tokens, flags included
    flags = ("single_word", "lstrip", "rstrip", "normalized", "special")
    assert {k: ours[4204][k] for k in flags} == {k: released[4204][k] for k in flags}
    assert json.loads(trained.to_str())["normalizer"] == json.loads(released_path.read_text())["normalizer"]


def test_small_layout_and_errors():
    tok = train_text_tokenizer(CAPTIONS, 200, ["cube"], num_sentinels=3, coord_bins=10)
    assert tok.layout == TextLayout(num_sentinels=3, coord_bins=10, class_names=("cube",))
    assert tok.coord_id(1, 9) == 4 + 3 + 19 and tok.token_to_id("cube") == 47
    with pytest.raises(TextLayoutError, match="leaves no room for word pieces"):
        train_text_tokenizer(CAPTIONS, 4204, [])
    with pytest.raises(TextLayoutError, match="unique"):
        train_text_tokenizer(CAPTIONS, 5000, ["Cube", "cube"])
    with pytest.raises(TextLayoutError, match="collides with a reserved token"):
        train_text_tokenizer(CAPTIONS, 5000, ["v0=1"])


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="omnimask")
    tokenizer_command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_train_text_command(tmp_path, capsys):
    corpus = tmp_path / "captions.txt"
    corpus.write_text("\n".join(CAPTIONS[:5]) + "\n\n")
    out = tmp_path / "tok"
    argv = ["tokenizer", "train-text", "--corpus", str(corpus), "--vocab-size", "300",
            "--class-names", "sphere, cube,red cube", "--num-sentinels", "8", "--coord-bins", "10",
            "--out", str(out)]  # fmt: skip
    assert _run(argv) == 0
    printed = capsys.readouterr().out
    assert "training WordPiece" in printed and f"wrote {out / 'tokenizer.json'}" in printed
    tok = TextTokenizer.from_file(out)
    assert tok.class_names == ("sphere", "cube", "red cube")
    card = json.loads((out / "config.json").read_text())
    assert card["vocab_size"] == tok.vocab_size
    assert card["layout"]["first_wordpiece_id"] == 4 + 8 + 40 + 3
    assert card["training"]["texts"] == 5 + 3  # non-empty lines + class names


def test_train_text_command_errors(tmp_path):
    with pytest.raises(ConfigError, match="no training text"):
        _run(["tokenizer", "train-text", "--vocab-size", "300", "--out", str(tmp_path)])
    with pytest.raises(ConfigError, match="no such file"):
        _run(["tokenizer", "train-text", "--corpus", str(tmp_path / "nope.txt"), "--vocab-size", "300",
              "--out", str(tmp_path)])  # fmt: skip
    corpus = tmp_path / "c.txt"
    corpus.write_text("a cube\n")
    with pytest.raises(ConfigError, match="leaves no room"):
        _run(["tokenizer", "train-text", "--corpus", str(corpus), "--vocab-size", "10", "--out", str(tmp_path)])
    with pytest.raises(SystemExit):  # argparse: an action is required
        _run(["tokenizer"])


def test_train_text_from_synthworld_hook(tmp_path, monkeypatch):
    fake = types.ModuleType("omnimask.data.synthworld")
    fake.SHAPES = ("sphere", "cube")
    fake.caption_corpus = lambda n, seed: [f"a red cube and {seed} spheres" for _ in range(n)]
    monkeypatch.setitem(sys.modules, "omnimask.data.synthworld", fake)
    argv = ["tokenizer", "train-text", "--from-synthworld", "7", "--seed", "3", "--vocab-size", "300",
            "--num-sentinels", "2", "--coord-bins", "4", "--out", str(tmp_path)]  # fmt: skip
    assert _run(argv) == 0
    card = json.loads((tmp_path / "config.json").read_text())
    assert card["layout"]["class_names"]["names"] == ["sphere", "cube"]
    assert card["training"]["texts"] == 7 + 2 and card["training"]["seed"] == 3


def test_train_text_from_real_synthworld(tmp_path):
    argv = ["tokenizer", "train-text", "--from-synthworld", "3", "--vocab-size", "400",
            "--num-sentinels", "2", "--coord-bins", "4", "--out", str(tmp_path)]  # fmt: skip
    assert _run(argv) == 0
    tok = TextTokenizer.from_file(tmp_path)
    assert "cube" in tok.class_names and "torus" in tok.class_names
    assert json.loads((tmp_path / "config.json").read_text())["training"]["texts"] == 3 + len(tok.class_names)
