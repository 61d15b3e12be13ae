"""``omnimask demo`` renders a few SynthWorld scenes into a preview picture and a summary."""

from PIL import Image

from omnimask.cli import main
from omnimask.commands.demo import run_demo


def test_run_demo_writes_preview_and_summary(tmp_path):
    paths = run_demo(tmp_path / "demo", num=2, seed=5, resolution=32)
    assert paths["preview"].exists() and paths["summary"].exists()
    img = Image.open(paths["preview"])
    assert img.mode == "RGB" and img.width == 7 * (160 + 4) + 4
    summary = paths["summary"].read_text()
    assert "scene 000000" in summary and "scene 000001" in summary and "scenes/s" in summary
    assert summary.count("caption:") == 2


def test_demo_command_reports_where_it_wrote(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--num", "1", "--resolution", "32"]) == 0
    printed = capsys.readouterr().out
    assert str(tmp_path / "preview.png") in printed and str(tmp_path / "summary.txt") in printed
    assert main(["demo", "--out", str(tmp_path), "--num", "0"]) == 2
