"""A built wheel works on its own (issue 14, item 7): ``make wheel-check`` runs this test.

It builds the wheel, installs it into a fresh virtual environment outside the checkout (dependencies
from the package index, torch as ``$OMNIMASK_TORCH``, no editable install, nothing shared with the
development environment) and runs ``omnimask demo`` from a directory outside the checkout. The demo
must find the shipped model, tokenizers and MiniCLIP inside the installed package (package data) and
write its page with every figure — not the SynthWorld preview it falls back to without a model.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TORCH = os.environ.get("OMNIMASK_TORCH", "torch==2.13.0")
PNG = b"\x89PNG\r\n\x1a\n"


def run(*args: str | Path, cwd: Path) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, f"{shlex.join(map(str, args))} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.slow  # builds a wheel and installs torch + omnimask into a fresh venv: about a minute or two
def test_installed_wheel_runs_the_demo_outside_the_checkout():
    with tempfile.TemporaryDirectory(prefix="omnimask-wheel-") as tmp:
        work = Path(tmp)
        assert not work.is_relative_to(REPO)
        start = time.perf_counter()
        run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", work / "dist", REPO, cwd=work)
        (wheel,) = (work / "dist").glob("omnimask-*.whl")
        run(sys.executable, "-m", "venv", work / "venv", cwd=work)  # fresh: no system site-packages
        pip = [work / "venv" / "bin" / "python", "-m", "pip", "install", "--quiet"]
        run(*pip, *shlex.split(TORCH), cwd=work)
        run(*pip, f"{wheel}[viz]", cwd=work)
        installed = time.perf_counter() - start

        env_python = work / "venv" / "bin" / "python"
        location = run(env_python, "-c", "import omnimask; print(omnimask.__file__)", cwd=work).strip()
        assert Path(location).is_relative_to(work / "venv"), f"omnimask imported from {location}, not the wheel"
        printed = run(work / "venv" / "bin" / "omnimask", "demo", "--out", work / "demo", cwd=work)

        page = (work / "demo" / "index.html").read_text()
        pictures = re.findall(r'<img src="([^"]+)"', page)
        assert pictures and pictures != ["preview.png"], f"the demo fell back to the preview:\n{printed}"
        for name in pictures:
            assert (work / "demo" / name).read_bytes()[:8] == PNG, name
        demo = time.perf_counter() - start - installed
        print(f"wheel built and installed in {installed:.0f} s, demo in {demo:.0f} s")
