"""Loss-curve PNGs of training runs (omnimask.training.curves)."""

import json

import numpy as np
import pytest
from PIL import Image

from omnimask.training.curves import run_title, smooth, write_loss_curves


def test_smooth_is_a_trailing_mean_over_the_window():
    np.testing.assert_allclose(smooth([1, 3, 5, 7], 2), [1, 2, 4, 6])
    np.testing.assert_allclose(smooth([1, 3, 5], 1), [1, 3, 5])


def test_a_run_folder_gets_a_two_panel_png(tmp_path):
    records = [{"step": s, "split": "train", "loss": 5 / s, "loss/tok_rgb@64": 4 / s} for s in range(1, 41)]
    records += [{"step": s, "split": "val", "loss": 6 / s, "loss/tok_rgb@64": 5 / s, "loss/caption": 1 / s}
                for s in (10, 20, 40)]  # fmt: skip
    (tmp_path / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    png = write_loss_curves(tmp_path)
    assert png == tmp_path / "loss_curves.png"
    with Image.open(png) as img:
        assert img.width > 2 * img.height > 400  # two panels side by side


def test_missing_metrics_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="omnimask train"):
        write_loss_curves(tmp_path)


def test_the_title_names_the_recipe_when_the_folder_name_does_not(tmp_path):
    run = tmp_path / "stage3"
    run.mkdir()
    assert run_title(run) == "stage3"  # no config.json
    (run / "config.json").write_text(json.dumps({"recipe": "synth_small_polish"}))
    assert run_title(run) == "stage3 (recipe synth_small_polish)"
    (run / "config.json").write_text(json.dumps({"recipe": "stage3"}))
    assert run_title(run) == "stage3"
    (run / "config.json").write_text("not json")
    assert run_title(run) == "stage3"
