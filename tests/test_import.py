"""``import omnimask`` loads only the core dependencies."""

import subprocess
import sys

OPTIONAL = ("matplotlib", "webdataset", "fsspec", "tensorboard", "diffusers", "hypothesis", "pytest")


def test_import_loads_only_core_dependencies():
    code = (
        "import sys, omnimask, omnimask.cli; omnimask.cli.build_parser();"
        f"print(','.join(m for m in {OPTIONAL!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
