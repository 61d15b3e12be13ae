"""Outputs as files and a grid, and the ``omnimask generate`` command on a tiny model with tokenizers."""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import pytest
import yaml
from PIL import Image

from omnimask.commands import generate
from omnimask.config import ConfigError
from omnimask.generation import Sampler, plan
from omnimask.generation.conditions import Conditioner
from omnimask.generation.pipeline import resolve_name
from omnimask.generation.render import colorize, decode_state, grid_picture, write_outputs
from omnimask.tokenizers.bundle import save_tokenizers


def test_colorize_dispatches_on_the_raw_array():
    assert colorize(np.zeros((4, 4, 3), np.uint8)).shape == (4, 4, 3)
    depth = colorize(np.linspace(1, 5, 16, dtype=np.float32).reshape(4, 4))
    assert depth.dtype == np.uint8 and not (depth[0, 0] == depth[-1, -1]).all()
    normals = colorize(np.tile(np.array([0, 0, 1], np.float32), (4, 4, 1)))
    assert normals.shape == (4, 4, 3)
    edges = colorize(np.eye(4, dtype=np.uint8))
    assert edges[0, 0].tolist() == [0, 0, 0] and edges[0, 1].tolist() == [255, 255, 255]
    labels = colorize(np.array([[0, 2], [5, 5]]))
    assert labels[1, 0].tolist() == labels[1, 1].tolist() != labels[0, 1].tolist()
    assert colorize(np.zeros((3, 4, 4), np.float32)).shape == (4, 4, 3)  # channels first
    features = np.zeros((4, 4, 16), np.float32)
    features[:, 2:, 5] = 3.0  # two patch groups -> the first principal component separates them
    pca = colorize(features)
    assert pca.shape == (4, 4, 3) and (pca[:, :2] == pca[0, 0]).all() and (pca[:, 2:] == pca[0, 3]).all()
    assert abs(int(pca[0, 0, 0]) - int(pca[0, 3, 0])) == 255


def test_write_outputs_and_grid(bundle, tmp_path):
    model, toks = bundle
    raw = {"rgb@16": np.full((16, 16, 3), 200, np.uint8), "caption": "a red cube"}
    cond = Conditioner(model.specs, toks)(raw)
    p = plan(list(raw), ["tok_semseg@16", "det"], model.specs)
    result = Sampler(model).generate(cond, p, seed=0)
    decoded = decode_state(result.state, model.specs, toks, [*raw, *p.targets])
    assert decoded["rgb@16"].picture[0, 0].tolist() == [200, 200, 200]  # un-normalised back to bytes
    assert decoded["caption"].text == "a red cube"
    assert decoded["tok_semseg@16"].picture.shape == (16, 16, 3)
    assert isinstance(decoded["det"].value, list)
    paths = write_outputs(decoded, list(raw), tmp_path)
    assert paths["tok_semseg@16"].name == "tok_semseg@16.png" and paths["caption"].read_text() == "a red cube\n"
    assert paths["det"].suffix == ".txt" and (tmp_path / "det.json").is_file()
    grid = Image.open(paths["grid"])
    assert grid.width >= 2 * 192 and grid.height > 192
    boxes = {"det": dataclasses.replace(decoded["det"], value=[{"class": "cube", "box": [0.1, 0.1, 0.6, 0.6]}])}
    drawn = np.asarray(grid_picture({**decoded, **boxes}, list(raw), cell=64))
    assert drawn.shape[1] == 3 * 64 + 4 * 4  # rgb, semseg, boxes over the rgb image; texts go underneath
    third = drawn[:, 2 * 68 + 4 : 3 * 68].reshape(-1, 3)
    assert ((third == [230, 25, 75]).all(1)).any()  # the first box colour of the label palette
    assert not ((drawn[:, 4:68].reshape(-1, 3) == [230, 25, 75]).all(1)).any()


@pytest.fixture()
def model_dir(bundle, tmp_path):
    model, toks = bundle
    directory = tmp_path / "model"
    model.save_pretrained(directory)
    save_tokenizers(toks, directory / "tokenizers")
    return directory


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    generate.register(parser.add_subparsers())
    args = parser.parse_args(["generate", *argv])
    return args.func(args)


def test_generate_command_writes_every_modality(model_dir, tmp_path, capsys):
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(tmp_path / "in.png")
    out = tmp_path / "out"
    code = cli("--model", str(model_dir), "--input", f"rgb={tmp_path / 'in.png'}", "--input", "caption=a red cube",
               "--target", "semseg,det", "--plan", "quality", "--seed", "3", "--out", str(out))
    assert code == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["caption.txt", "det.json", "det.txt", "grid.png", "rgb@16.png", "tok_semseg@16.png"]
    assert "grid" in capsys.readouterr().out
    first = (out / "tok_semseg@16.png").read_bytes()
    cli("--model", str(model_dir), "--input", f"rgb={tmp_path / 'in.png'}", "--input", "caption=a red cube",
        "--target", "semseg,det", "--plan", "quality", "--seed", "3", "--out", str(out))
    assert (out / "tok_semseg@16.png").read_bytes() == first  # the seed reproduces


def test_generate_command_with_a_released_settings_file(model_dir, tmp_path):
    settings = {"cond_domains": "caption", "target_domains": "tok_semseg@16-det", "tokens_per_target": "4-24",
                "autoregression_schemes": "maskgit-autoregressive", "decoding_steps": "2-None",
                "token_decoding_schedules": "cosine-None", "temps": "1.0-0.0", "temp_schedules": "constant",
                "cfg_scales": "2.0-1.0", "cfg_schedules": "constant", "cfg_grow_conditioning": True}
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump(settings))
    det = '[{"class": "cube", "box": [0.1, 0.1, 0.5, 0.5]}]'
    assert cli("--model", str(model_dir), "--input", "caption=two green cones", "--plan", str(path),
               "--out", str(tmp_path / "o")) == 0
    assert (tmp_path / "o" / "tok_semseg@16.png").is_file()
    assert cli("--model", str(model_dir), "--input", f"det={det}", "--target", "caption",
               "--out", str(tmp_path / "o2")) == 0
    assert (tmp_path / "o2" / "det.json").is_file()


def test_generate_command_errors(model_dir, tmp_path):
    with pytest.raises(ConfigError, match="unknown modality"):
        cli("--model", str(model_dir), "--input", "depth=x.png", "--target", "det", "--out", str(tmp_path))
    with pytest.raises(ConfigError, match="NAME=VALUE"):
        cli("--model", str(model_dir), "--input", "caption", "--target", "det", "--out", str(tmp_path))
    with pytest.raises(ConfigError, match="--target is required"):
        cli("--model", str(model_dir), "--input", "caption=a cube", "--out", str(tmp_path))
    assert resolve_name("semseg", ["tok_semseg@16", "rgb@16"]) == "tok_semseg@16"
    assert resolve_name("rgb", ["tok_rgb@16", "rgb@16"]) == "rgb@16"
    with pytest.raises(ValueError, match="ambiguous"):
        resolve_name("rgb", ["rgb@16", "rgb@32"])
