"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest
from reference_paths import FIXTURES, SKIP_REASON


@pytest.fixture(scope="session")
def reference_fixtures() -> Path:
    """The 4M reference fixture directory; tests using it skip (saying where they looked) when it is absent."""
    if not (FIXTURES / "fm").is_dir():
        pytest.skip(SKIP_REASON)
    return FIXTURES


@pytest.fixture(autouse=True)
def _one_thread():
    """Every test runs single-threaded: the models here are tiny and gain nothing from intra-op threads,
    while oversubscribed threads on a shared 2-core machine make them many times slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
