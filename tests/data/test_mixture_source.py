"""Dataset mixtures: exact quotas for indexable sources, weighted draws for streams, absent modalities."""

import collections

import numpy as np
import pytest

from omnimask.data.mixture_source import MixtureSource, MixtureStream, normalised_weights
from omnimask.masking import Masker, MaskingConfig, all2all, collate
from omnimask.modalities import ModalitySpec


class Rows:
    """An indexable source whose row ``i`` names itself."""

    def __init__(self, name, n, modalities=("tok",)):
        self.name, self.n, self.modalities = name, n, modalities

    def __len__(self):
        return self.n

    def __getitem__(self, row):
        if not 0 <= row < self.n:
            raise IndexError(row)
        return {"id": (self.name, row), **{m: np.full(4, row % 8) for m in self.modalities}}


class Counting:
    """A stream source yielding (name, seed, rank, worker, k); ``limit`` makes it finite."""

    def __init__(self, name, limit=None):
        self.name, self.limit = name, limit

    def iterate(self, seed, rank=0, world_size=1, worker=0, num_workers=1):
        k = 0
        while self.limit is None or k < self.limit:
            yield {"id": (self.name, seed, rank, worker, k)}
            k += 1


def test_index_mixture_meets_its_quotas_without_replacement():
    mix = MixtureSource([Rows("a", 50), Rows("b", 10)], weights=[0.75, 0.25], seed=3, length=40)
    rows = [mix[i]["id"] for i in range(len(mix))]
    by_source = collections.Counter(name for name, _ in rows)
    assert by_source == {"a": 30, "b": 10}
    assert len(set(rows)) == 40  # nobody twice while a dataset lasts
    assert [mix[i]["__source__"] for i in (0, 39)] == [0, 1]
    same = MixtureSource([Rows("a", 50), Rows("b", 10)], [3, 1], seed=3, length=40)  # weights in any scale
    assert [same[i]["id"] for i in range(40)] == rows
    other_seed = MixtureSource([Rows("a", 50), Rows("b", 10)], [3, 1], seed=4, length=40)
    assert [other_seed[i]["id"] for i in range(40)] != rows


def test_index_mixture_upsamples_a_small_dataset_cyclically():
    mix = MixtureSource([Rows("a", 4), Rows("b", 100)], weights=[1, 1], seed=0, length=20)
    a_rows = [mix[i]["id"][1] for i in range(20) if mix[i]["id"][0] == "a"]
    assert len(a_rows) == 10 and sorted(a_rows[:4]) == [0, 1, 2, 3] and a_rows[4:8] == a_rows[:4]


def test_default_length_and_weights():
    mix = MixtureSource([Rows("a", 3), Rows("b", 5)])
    assert len(mix) == 8 and list(mix.counts) == [4, 4]
    with pytest.raises(IndexError):
        mix[8]


def test_stream_mixture_draws_by_weight_with_independent_component_seeds():
    mix = MixtureStream([Counting("a"), Counting("b")], weights=[0.8, 0.2])
    draws = [s["id"] for s, _ in zip(mix.iterate(5, rank=1, world_size=2, worker=0, num_workers=1), range(4000))]
    counts = collections.Counter(d[0] for d in draws)
    assert abs(counts["a"] / 4000 - 0.8) < 0.03
    seeds = {d[0]: d[1] for d in draws}
    assert seeds["a"] != seeds["b"] and all(d[2] == 1 for d in draws)
    again = [s["id"] for s, _ in zip(mix.iterate(5, rank=1, world_size=2), range(50))]
    assert again == draws[:50]
    other_rank = [s["id"] for s, _ in zip(mix.iterate(5, rank=0, world_size=2), range(50))]
    assert [d[0] for d in other_rank] != [d[0] for d in draws[:50]]


def test_a_finite_stream_leaves_the_mixture_when_dry():
    mix = MixtureStream([Counting("a", limit=3), Counting("b", limit=5)], weights=[0.9, 0.1])
    names = [s["id"][0] for s in mix.iterate(0)]
    assert collections.Counter(names) == {"a": 3, "b": 5}


def test_zero_weight_dataset_is_never_drawn():
    mix = MixtureStream([Counting("a"), Counting("b")], weights=[1, 0])
    assert {s["id"][0] for s, _ in zip(mix.iterate(0), range(200))} == {"a"}


@pytest.mark.parametrize(("weights", "message"), [([1], "1 weights for 2"), ([1, -1], ">= 0"), ([0, 0], "not all 0")])
def test_bad_weights_are_refused(weights, message):
    with pytest.raises(ValueError, match=message):
        normalised_weights(weights, 2)


def test_modalities_missing_from_a_dataset_are_absent_after_masking():
    specs = {
        "tok": ModalitySpec(name="tok", kind="image_tokens", vocab_size=8, num_tokens=4, grid=(2, 2), patch_size=4),
        "tok2": ModalitySpec(name="tok2", kind="image_tokens", vocab_size=8, num_tokens=4, grid=(2, 2), patch_size=4),
    }
    mix = MixtureSource([Rows("a", 4, ("tok", "tok2")), Rows("b", 4, ("tok",))], seed=0)
    masker = Masker(specs, MaskingConfig(num_input_tokens=3, num_target_tokens=3, mixture=all2all(1.0, list(specs))))
    masked = [masker(mix[i], np.random.default_rng(i)) for i in range(len(mix))]
    for i, m in enumerate(masked):
        assert ("tok2" in m) == (mix[i]["__source__"] == 0)
    batch = collate(masked, specs)
    from_b = [i for i in range(len(mix)) if mix[i]["__source__"] == 1]
    assert not batch["tok2"].input_keep[from_b].any() and not batch["tok2"].target_keep[from_b].any()
