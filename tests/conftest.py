"""Shared test fixtures: where the 4M reference fixtures live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def reference_fixture_dir() -> Path:
    """``$OMNIMASK_REFERENCE_FIXTURES`` or ``<repo>/../shared/fixtures/reference-4m`` (CI's layout)."""
    return Path(os.environ.get("OMNIMASK_REFERENCE_FIXTURES", REPO.parent / "shared" / "fixtures" / "reference-4m"))


@pytest.fixture(scope="session")
def reference_fixtures() -> Path:
    """The reference fixture directory; tests using it skip (saying where they looked) when it is absent."""
    path = reference_fixture_dir()
    if not (path / "fm").is_dir():
        pytest.skip(f"4M reference fixtures not found at {path} (set OMNIMASK_REFERENCE_FIXTURES to their directory)")
    return path
