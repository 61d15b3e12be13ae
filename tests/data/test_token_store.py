"""Pre-tokenized store: samples round-trip through disk, aligned by key, chunks intact."""

import numpy as np
import pytest

from omnimask.data.token_store import TokenStore


def _samples(n):
    rng = np.random.default_rng(0)
    return [
        {
            "tok_depth@64": rng.integers(0, 512, 64),
            "rgb@64": rng.integers(0, 256, (64, 64, 3), dtype=np.uint8),
            "caption": [rng.integers(5, 2000, rng.integers(1, 9))],
            "metadata": [rng.integers(5, 2000, 4) for _ in range(i % 3)],
        }
        for i in range(n)
    ]


def test_round_trip_through_disk(tmp_path):
    samples = _samples(5)
    keys = [f"{i:06d}" for i in range(5)]
    store = TokenStore.from_samples(keys, samples, {"tok_depth@64": 512, "caption": 2048, "metadata": 2048})
    store.save(tmp_path / "train")
    loaded = TokenStore.load(tmp_path / "train")
    assert loaded.keys == keys and sorted(loaded.modalities) == sorted(samples[0])
    for i, sample in enumerate(samples):
        got = loaded[i]
        np.testing.assert_array_equal(got["tok_depth@64"], sample["tok_depth@64"])
        np.testing.assert_array_equal(got["rgb@64"], sample["rgb@64"])
        for name in ("caption", "metadata"):
            assert len(got[name]) == len(sample[name])
            for a, b in zip(got[name], sample[name]):
                np.testing.assert_array_equal(a, b)
    assert loaded.grids["tok_depth@64"].dtype == np.uint16


def test_misaligned_arrays_are_rejected():
    with pytest.raises(ValueError, match="3 rows for 2 keys"):
        TokenStore(["a", "b"], {"tok": np.zeros((3, 4))}, {})


def test_missing_split_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a pre-tokenized split"):
        TokenStore.load(tmp_path)
