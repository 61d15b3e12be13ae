"""Dirichlet token budgets and random position masks: totals, clamping, α = 0, disjoint inputs/targets."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from omnimask.masking import dirichlet_split, draw_budgets, position_masks

alphas_st = st.lists(st.sampled_from([0.0, 0.01, 0.1, 0.5, 1.0, 10.0, 1000.0]), min_size=1, max_size=8)


@settings(max_examples=40, deadline=None)
@given(alphas=alphas_st, total=st.integers(0, 300), seed=st.integers(0, 2**32 - 1))
def test_dirichlet_split_sums_to_total_and_zero_alpha_gets_nothing(alphas, total, seed):
    alphas = np.array(alphas)
    out = dirichlet_split(alphas, total, np.random.default_rng(seed))
    assert out.dtype == np.int64 and out.shape == alphas.shape
    assert (out >= 0).all()
    assert (out[alphas == 0] == 0).all()
    expected = total if (alphas > 0).any() else 0
    assert out.sum() == expected


def test_dirichlet_split_single_active_modality_takes_everything():
    out = dirichlet_split(np.array([0.0, 3.0, 0.0]), 17, np.random.default_rng(0))
    assert out.tolist() == [0, 17, 0]


def test_dirichlet_split_huge_alpha_dominates():
    # 4M's rgb2all: alpha 1000 against 0.5 gives (almost) the whole budget to the first modality
    outs = np.stack([dirichlet_split(np.array([1000.0, 0.5, 0.5]), 128, np.random.default_rng(s)) for s in range(50)])
    assert outs[:, 0].mean() > 126


@settings(max_examples=40, deadline=None)
@given(
    data=st.data(),
    num_mods=st.integers(1, 6),
    n_in=st.integers(0, 400),
    n_tgt=st.integers(0, 400),
    seed=st.integers(0, 2**32 - 1),
)
def test_draw_budgets_respect_capacities(data, num_mods, n_in, n_tgt, seed):
    k = data.draw(st.integers(1, 3))
    alpha = st.sampled_from([0.0, 0.1, 1.0, 5.0])
    in_alpha = np.array(
        data.draw(st.lists(st.lists(alpha, min_size=num_mods, max_size=num_mods), min_size=k, max_size=k))
    )
    tg_alpha = np.array(
        data.draw(st.lists(st.lists(alpha, min_size=num_mods, max_size=num_mods), min_size=k, max_size=k))
    )
    cap = np.array(data.draw(st.lists(st.sampled_from([0, 1, 5, 16, 196, 256]), min_size=num_mods, max_size=num_mods)))
    positional = np.array(data.draw(st.lists(st.booleans(), min_size=num_mods, max_size=num_mods)))
    b = draw_budgets(
        input_alphas=in_alpha,
        target_alphas=tg_alpha,
        cum_weights=np.cumsum(np.full(k, 1 / k)).tolist(),
        num_input_tokens=n_in,
        num_target_tokens=n_tgt,
        input_capacity=cap,
        target_capacity=cap,
        positional=positional,
        rng=np.random.default_rng(seed),
    )
    assert 0 <= b.component < k
    inputs, targets = np.array(b.input), np.array(b.target)
    assert (inputs <= cap).all() and (targets >= 0).all()
    assert inputs.sum() <= n_in and targets.sum() <= n_tgt
    assert (targets[positional] + inputs[positional] <= cap[positional]).all()
    assert (targets[~positional] <= cap[~positional]).all()
    assert (inputs[in_alpha[b.component] == 0] == 0).all()
    assert (targets[tg_alpha[b.component] == 0] == 0).all()
    # with room to spare, the totals are used exactly
    if (cap >= n_in + n_tgt).all():
        if (in_alpha[b.component] > 0).any():
            assert inputs.sum() == n_in
        if (tg_alpha[b.component] > 0).any():
            assert targets.sum() == n_tgt


def test_draw_budgets_follow_sampling_weights():
    kw = dict(
        input_alphas=np.array([[1.0], [1.0]]),
        target_alphas=np.array([[1.0], [1.0]]),
        cum_weights=[0.9, 1.0],
        num_input_tokens=4,
        num_target_tokens=4,
        input_capacity=np.array([16]),
        target_capacity=np.array([16]),
        positional=np.array([True]),
    )
    comps = [draw_budgets(**kw, rng=np.random.default_rng(s)).component for s in range(400)]
    assert 0.84 < np.mean(np.array(comps) == 0) < 0.96


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 200), ib=st.integers(0, 250), tb=st.integers(0, 250), seed=st.integers(0, 2**32 - 1))
def test_position_masks_disjoint_with_exact_counts(n, ib, tb, seed):
    inp, tgt = position_masks(n, ib, tb, np.random.default_rng(seed))
    assert inp.shape == tgt.shape == (n,) and inp.dtype == tgt.dtype == np.bool_
    assert not (inp & tgt).any()
    assert inp.sum() == min(ib, n)
    assert tgt.sum() == min(tb, n - min(ib, n))


def test_position_masks_available_limits_positions():
    inp, tgt = position_masks(10, 8, 8, np.random.default_rng(0), available=4)
    assert inp.sum() == 4 and tgt.sum() == 0
    assert not inp[4:].any()


def test_position_masks_are_uniform_over_positions():
    hits = sum(position_masks(8, 2, 0, np.random.default_rng(s))[0].astype(int) for s in range(800))
    assert hits.min() > 150 and hits.max() < 250  # expectation 200 each
