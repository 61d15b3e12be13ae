"""Sine-cosine position embeddings: formulas, the reference tables, resizing."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from reference_paths import FIXTURES

from omnimask.nn import resize_grid_table, sincos_1d, sincos_2d


def test_1d_rows_are_sines_then_cosines():
    t = sincos_1d(10, 8)
    n, k = 7, 3
    omega = 1 / 10000 ** (k / 4)
    assert t.dtype == torch.float32 and t.shape == (10, 8)
    assert t[n, k].item() == pytest.approx(math.sin(n * omega), abs=1e-6)
    assert t[n, 4 + k].item() == pytest.approx(math.cos(n * omega), abs=1e-6)


def test_2d_rows_are_row_then_column_blocks():
    t = sincos_2d(3, 3, 8)  # Q = 2
    r, c, k = 2, 1, 1
    omega = 1 / 10000 ** (k / 2)
    row = t[r * 3 + c]
    assert row[k].item() == pytest.approx(math.sin(r * omega), abs=1e-6)
    assert row[2 + k].item() == pytest.approx(math.cos(r * omega), abs=1e-6)
    assert row[4 + k].item() == pytest.approx(math.sin(c * omega), abs=1e-6)
    assert row[6 + k].item() == pytest.approx(math.cos(c * omega), abs=1e-6)


def test_widths_must_divide():
    with pytest.raises(ValueError):
        sincos_2d(2, 2, 6)
    with pytest.raises(ValueError):
        sincos_1d(2, 5)


def test_resize_identity_and_shape():
    t = sincos_2d(4, 4, 8)
    assert resize_grid_table(t, (4, 4), (4, 4)) is t
    assert resize_grid_table(t, (4, 4), (2, 6)).shape == (12, 8)


def test_tables_match_reference_fixture():
    path = FIXTURES / "cases" / "posemb.npz"
    if not path.exists():
        pytest.skip(f"reference fixtures not found at {path} (set OMNIMASK_REFERENCE_FIXTURES)")
    ref = np.load(path)
    checked = 0
    for key in ref.files:  # sincos_1d_D{dim}_len{n} / sincos_2d_D{dim}_{h}x{w}: shapes from the key names
        if m := re.fullmatch(r"sincos_1d_D(\d+)_len(\d+)", key):
            # The reference computes the same float32 ops; other libm versions may differ by ~2e-5 near row 511.
            np.testing.assert_allclose(sincos_1d(int(m[2]), int(m[1])).numpy(), ref[key], atol=3e-5, rtol=0)
        elif m := re.fullmatch(r"sincos_2d_D(\d+)_(\d+)x(\d+)", key):
            np.testing.assert_allclose(sincos_2d(int(m[2]), int(m[3]), int(m[1])).numpy(), ref[key], atol=1e-6, rtol=0)
        else:
            raise AssertionError(f"unknown table {key} in {path}")
        checked += 1
    assert checked
