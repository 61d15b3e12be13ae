"""Labelers by name: the shipped MiniCLIP, user-registered networks, and the ``omnimask labeler`` command."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch

from omnimask.commands import labeler as labeler_command
from omnimask.config import ConfigError
from omnimask.data.labelers import FeatureLabeler, MiniClipLabeler
from omnimask.data.labelers.registry import _LOADERS, available_labelers, load_labeler, register_labeler


class _MeanColour:
    """A weight-free labeler: per-patch mean colour (4x4 patches) and per-image mean colour."""

    name, feature_dim, embedding_dim = "mean_colour", 3, 3

    def patch_features(self, rgb):
        x = torch.as_tensor(rgb).float() / 255.0  # (B, H, W, 3)
        return x.unflatten(1, (-1, 4)).unflatten(3, (-1, 4)).mean(dim=(2, 4))  # (B, H/4, W/4, 3)

    def global_embedding(self, rgb):
        return torch.as_tensor(rgb).float().mean(dim=(1, 2)) / 255.0


@pytest.fixture
def clean_registry():
    before = dict(_LOADERS)
    yield
    _LOADERS.clear()
    _LOADERS.update(before)


def test_miniclip_is_registered_and_loads_the_shipped_weights():
    assert "miniclip" in available_labelers()
    assert isinstance(load_labeler("miniclip"), MiniClipLabeler)


def test_a_user_labeler_plugs_in_by_name_and_path(clean_registry, tmp_path):
    seen = []
    register_labeler("mean_colour", lambda path: seen.append(path) or _MeanColour())
    labeler = load_labeler("mean_colour", tmp_path)
    assert seen == [tmp_path] and isinstance(labeler, FeatureLabeler)
    rgb = np.full((2, 8, 8, 3), 255, np.uint8)
    assert labeler.patch_features(rgb).shape == (2, 2, 2, 3)
    with pytest.raises(ValueError, match="already registered"):
        register_labeler("mean_colour", lambda path: _MeanColour())
    register_labeler("mean_colour", lambda path: _MeanColour(), overwrite=True)


def test_registry_errors_name_the_problem(clean_registry):
    with pytest.raises(KeyError, match=r"registered: .*miniclip"):
        load_labeler("clip_b16")
    register_labeler("broken", lambda path: object())
    with pytest.raises(TypeError, match="patch_features"):
        load_labeler("broken")
    with pytest.raises(ValueError, match="letters"):
        register_labeler("no spaces", lambda path: _MeanColour())


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="omnimask")
    labeler_command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_info_describes_the_shipped_checkpoint(capsys):
    assert _run(["labeler", "info"]) == 0
    out = capsys.readouterr().out
    listed = out.split("registered labelers: ")[1].splitlines()[0].split(", ")
    assert {"miniclip", "metadata", "canny", "faces", "dpt_depth"} <= set(listed) and "C=64" in out
    assert "held-out text_to_image_r@1" in out and "(chance 0.010 among 100)" in out
    with pytest.raises(ConfigError, match="no labeler named 'clip_b16'"):
        _run(["labeler", "info", "clip_b16"])


def test_info_describes_an_image_labeler_by_what_it_writes(capsys):
    assert _run(["labeler", "info", "canny"]) == 0
    assert "canny: labels photos with edges" in capsys.readouterr().out


def test_train_miniclip_command_writes_a_loadable_checkpoint(tmp_path, capsys):
    out = tmp_path / "clip"
    argv = ["labeler", "train-miniclip", "--out", str(out), "--num", "8", "--batch-size", "8", "--steps", "1"]
    assert _run([*argv, "--eval-num", "0", "--quiet"]) == 0
    card = json.loads((out / "config.json").read_text())
    assert card["training"]["command"].startswith("omnimask labeler train-miniclip --out DIR --num 8 --steps 1")
    assert load_labeler("miniclip", out).global_embedding(np.zeros((1, 64, 64, 3), np.uint8)).shape == (1, 64)
    assert "wrote" in capsys.readouterr().out
