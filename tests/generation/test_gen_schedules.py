"""Token, temperature and guidance schedules: the release's exact numbers (README §8.1)."""

from __future__ import annotations

import numpy as np
import pytest

from omnimask.generation.schedules import (
    cosine_token_schedule,
    guidance_schedule,
    linear_token_schedule,
    temperature_schedule,
    token_schedule,
)


@pytest.mark.parametrize(
    ("steps", "expected"),
    [(4, [29, 69, 69, 29]), (8, [7, 21, 32, 38, 38, 32, 21, 7]), (3, [49, 98, 49]), (2, [98, 98]), (1, [196])],
)
def test_cosine_schedule_matches_readme(steps, expected):
    assert cosine_token_schedule(steps, 196) == expected


def test_cosine_uses_round_half_to_even():
    # 2 steps over 5 tokens: 5 * (1 - 0.5) = 2.5 -> 2 (half to even), remainder 3.
    assert cosine_token_schedule(2, 5) == [2, 3]
    assert cosine_token_schedule(2, 7) == [4, 3]  # 3.5 -> 4


@pytest.mark.parametrize(
    ("steps", "total", "expected"),
    [(1, 196, [196]), (49, 196, [4] * 49), (25, 196, [8] * 21 + [7] * 4), (8, 3, [1, 1, 1]), (3, 10, [4, 3, 3])],
)
def test_linear_schedule(steps, total, expected):
    assert linear_token_schedule(steps, total) == expected
    assert sum(expected) == total


def test_explicit_and_unknown_token_schedules():
    assert token_schedule([5, 0, 2], 99, 7) == [5, 0, 2]
    with pytest.raises(ValueError, match="unknown token schedule"):
        token_schedule("square", 2, 10)
    with pytest.raises(ValueError, match="non-empty"):
        token_schedule([], 2, 10)


def test_constant_and_linear_temperature():
    assert temperature_schedule("constant", 0.5, [2, 2, 2]) == [0.5, 0.5, 0.5]
    # starts at T, then T * (remaining fraction after each iteration), last value dropped
    assert temperature_schedule("linear", 2.0, [1, 1, 2]) == pytest.approx([2.0, 1.5, 1.0])
    assert temperature_schedule("linear", 0.0, [3]) == [1e-9]  # clipped like the release


def test_onex_temperature_is_the_released_curve():
    counts = [4] * 4
    x = np.linspace(1, 100, 16)
    y = 1 / x**0.5
    y = (y - y.min()) / (y.max() - y.min())
    done = np.cumsum(counts) / 16
    expected = [0.5 + (6.0 - 0.5) * (1 - d) * u for u, d in zip(y[:4], done)]  # first len(counts) values of y
    assert temperature_schedule("onex:0.5:0.5", 6.0, counts) == pytest.approx(expected)
    assert temperature_schedule("onex:0.5:0.5", 6.0, counts)[-1] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="onex:<min>:<power>"):
        temperature_schedule("onex:0.5", 1.0, counts)


def test_guidance_schedules():
    assert guidance_schedule("constant", 3.0, 2) == [3.0, 3.0]
    assert guidance_schedule("constant", [1.5, -0.5], 2) == [(1.5, -0.5), (1.5, -0.5)]
    assert guidance_schedule("linear", 3.0, 3) == [1.0, 2.0, 3.0]
    assert guidance_schedule("cosine", 3.0, 3) == pytest.approx([1.0, 2.0, 3.0])
    assert guidance_schedule("linear", 3.0, 1) == [3.0]
    with pytest.raises(ValueError, match="single scale"):
        guidance_schedule("linear", [1.0, 2.0], 3)
    with pytest.raises(ValueError, match="3 iterations"):
        guidance_schedule([1.0], 2.0, 3)
