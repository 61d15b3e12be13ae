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
