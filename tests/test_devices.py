"""The device a command runs on (omnimask.devices): names checked up front, the CPU allocator set up."""

import os
import subprocess
import sys

import pytest

from omnimask.config import ConfigError
from omnimask.devices import MALLOC_ENV, check_device, use_device

#: Ten 40 MB tensors allocated, filled and freed after use_device("cpu") and 20 such warm-up steps (the
#: heap grows into place over the first ones); prints the page faults the ten took.
PAGE_FAULTS = """
import resource, torch
from omnimask.devices import use_device
use_device("cpu")
for _ in range(20):
    torch.empty(10_000_000).fill_(1.0)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    torch.empty(10_000_000).fill_(1.0)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _page_faults(env_value: str | None) -> int:
    env = {k: v for k, v in os.environ.items() if k != MALLOC_ENV}
    if env_value is not None:
        env[MALLOC_ENV] = env_value
    out = subprocess.run([sys.executable, "-c", PAGE_FAULTS], env=env, capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1])


def test_unknown_and_missing_devices_are_config_errors():
    with pytest.raises(ConfigError, match="not a torch device"):
        check_device("gpu0")
    assert check_device(None).type == "cpu"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_on_the_cpu_freed_tensor_memory_is_reused_instead_of_faulted_in_again():
    kept, default = _page_faults(None), _page_faults("default")
    assert default > 50_000  # ten 40 MB blocks mapped anew: about 9800 page faults each
    assert kept < default / 20, (kept, default)


def test_use_device_returns_the_checked_device():
    assert use_device("cpu").type == "cpu"
