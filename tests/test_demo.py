"""``omnimask demo``: the HTML page with figures from a model folder, and the preview fallback."""

import re

import numpy as np
from PIL import Image

from omnimask.cli import main
from omnimask.data.synthworld.preview import SEMANTIC_PALETTE
from omnimask.demo.pictures import map_picture
from omnimask.demo.preview import write_preview


def test_write_preview_writes_preview_and_summary(tmp_path):
    paths = write_preview(tmp_path / "demo", num=2, seed=5, resolution=32)
    img = Image.open(paths["preview"])
    assert img.mode == "RGB" and img.width == 7 * (160 + 4) + 4
    summary = paths["summary"].read_text()
    assert "scene 000000" in summary and "scene 000001" in summary and "scenes/s" in summary
    assert summary.count("caption:") == 2


def test_without_a_model_the_demo_falls_back_to_the_preview_and_says_so(tmp_path, monkeypatch, capsys):
    missing = tmp_path / "assets" / "models" / "synth_small"
    monkeypatch.setattr("omnimask.demo.build.shipped_model_path", lambda: missing)
    out = tmp_path / "out"
    assert main(["demo", "--out", str(out), "--num", "1", "--resolution", "32"]) == 0
    printed = capsys.readouterr().out
    for needed in (f"No shipped model was found at {missing}", "omnimask train --recipe synth_small", "--model"):
        assert needed in printed
    page = (out / "index.html").read_text()
    assert "No shipped model was found" in page and "omnimask train --recipe synth_small" in page
    assert re.findall(r'<img src="([^"]+)"', page) == ["preview.png"]
    assert (out / "preview.png").is_file() and (out / "summary.txt").is_file()
    assert str(out / "preview.png") in printed and str(out / "index.html") in printed


def test_a_model_folder_that_is_not_there_is_an_error(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--model", str(tmp_path / "nope")]) == 2
    assert "not a model folder" in capsys.readouterr().err
    assert main(["demo", "--out", str(tmp_path), "--num", "0"]) == 2


def test_semantic_maps_use_the_synthworld_palette():
    labels = np.array([[0, 1], [3, 8]], np.uint8)
    assert (map_picture("semseg", labels) == SEMANTIC_PALETTE[labels]).all()
    edges = map_picture("edges", np.array([[True, False]]))
    assert edges[0, 0].tolist() == [0, 0, 0] and edges[0, 1].tolist() == [255, 255, 255]



def test_feature_maps_are_pictured_by_their_principal_components():
    features = np.zeros((5, 4, 4), np.float32)  # channels first, as a card tokenizer may return them
    features[2, :, 2:] = 1.0  # one direction of variation: left half vs right half
    picture = map_picture("clip", features)
    assert picture.shape == (4, 4, 3) and picture.dtype == np.uint8
    assert (picture[:, :2] == picture[0, 0]).all() and (picture[:, 2:] == picture[0, 3]).all()
    assert abs(int(picture[0, 0, 0]) - int(picture[0, 3, 0])) == 255  # first component spans the full range
