"""Whole-sample masking and collation over every modality kind: budgets, polarity, α = 0, determinism."""

import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from omnimask.batch import ModalityBatch
from omnimask.config import ConfigError
from omnimask.masking import (
    AlphaMixture,
    Masker,
    MaskingConfig,
    ModalityAlphas,
    all2all,
    collate,
    combine_mixtures,
    is_sentinel,
    mask_sample,
    merge_spans,
    prepare_chunks,
    prepare_sequence,
    rgb2all,
    unpack_sequence,
)
from omnimask.modalities import KINDS, ModalitySpec
from omnimask.model import FourM, config_for_specs

SPECS = {
    s.name: s
    for s in [
        ModalitySpec(name="rgb@32", kind="pixels", num_tokens=16, grid=(4, 4), patch_size=8),
        ModalitySpec(name="tok_depth@32", kind="image_tokens", vocab_size=64, num_tokens=16, grid=(4, 4), patch_size=8),
        ModalitySpec(name="tok_global", kind="global_tokens", vocab_size=32, num_tokens=4),
        ModalitySpec(name="caption", kind="sequence", vocab_size=2048, num_tokens=12, max_length=12),
        ModalitySpec(name="metadata", kind="sequence", vocab_size=2048, num_tokens=10, max_length=10),
        ModalitySpec(name="t5_emb", kind="embedding_sequence", num_tokens=8, input_dim=3),
    ]
}
NAMES = list(SPECS)
IMAGE_LIKE = ["rgb@32", "tok_depth@32", "tok_global", "t5_emb"]


def make_sample(rng, drop=()):
    sample = {
        "rgb@32": rng.standard_normal((3, 32, 32)).astype(np.float32),
        "tok_depth@32": rng.integers(0, 64, (4, 4)),  # a grid is flattened row-major
        "tok_global": rng.integers(0, 32, 4),
        "caption": rng.integers(300, 2048, rng.integers(0, 15)),
        "metadata": [rng.integers(300, 2048, 2).tolist() for _ in range(rng.integers(0, 6))],
        "t5_emb": rng.standard_normal((int(rng.integers(1, 9)), 3)),
        "__key__": "ignored",
    }
    return {k: v for k, v in sample.items() if k not in drop}


def mixture(alpha=0.5):
    return combine_mixtures(
        [rgb2all(alpha, NAMES, rgb="rgb@32"), all2all(alpha, NAMES, input_only=["rgb@32", "t5_emb"])]
    )


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        for f in ("tensor", "input_keep", "target_keep"):
            np.testing.assert_array_equal(getattr(a[k], f), getattr(b[k], f))


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_in=st.integers(0, 40),
    n_tgt=st.integers(0, 40),
    alpha=st.sampled_from([0.1, 0.5, 2.0]),
    drop=st.sets(st.sampled_from(NAMES), max_size=2),
)
def test_masked_sample_properties(seed, n_in, n_tgt, alpha, drop):
    cfg = MaskingConfig(num_input_tokens=n_in, num_target_tokens=n_tgt, mixture=mixture(alpha))
    rng = np.random.default_rng(seed)
    sample = make_sample(rng, drop)
    out = Masker(SPECS, cfg)(sample, rng)
    assert set(out) == set(NAMES) - drop
    assert sum(m.input_budget for m in out.values()) <= n_in
    assert sum(m.target_budget for m in out.values()) <= n_tgt
    for name, m in out.items():
        spec = SPECS[name]
        assert m.input_keep.dtype == m.target_keep.dtype == np.bool_
        assert m.num_inputs <= m.input_budget and m.num_targets <= m.target_budget
        if name in IMAGE_LIKE:
            assert not (m.input_keep & m.target_keep).any()
            available = len(sample[name]) if name == "t5_emb" else spec.num_tokens
            assert m.num_inputs == min(m.input_budget, available)
            assert m.num_targets == m.target_budget
            assert not m.input_keep[available:].any()
        if not spec.is_discrete:
            assert m.num_targets == 0
        if spec.kind == "sequence":
            assert m.tensor.shape == (2 * (spec.num_tokens + 1),) and m.tensor.dtype == np.int64
            # polarity: inputs exactly at [0, len_in), targets exactly from the input budget on
            assert np.flatnonzero(m.input_keep).tolist() == list(range(m.num_inputs))
            assert np.flatnonzero(m.target_keep).tolist() == list(range(m.input_budget, m.input_budget + m.num_targets))
            assert (m.tensor[~(m.input_keep | m.target_keep)] == 0).all()
            inp, tgt = unpack_sequence(m.tensor, m.input_keep, m.target_keep)
            if name == "caption":
                original = prepare_sequence(sample[name], spec.num_tokens)
            else:
                original = prepare_chunks(sample[name], spec.num_tokens)[0]
            runs = int(is_sentinel(inp).sum())
            full_target = len(original) - (len(inp) - runs) + runs + 1
            if m.input_budget > 0 and m.target_budget >= full_target:  # not cut: span merge restores it
                assert merge_spans(inp, tgt).tolist() == original.tolist()


def test_determinism_under_a_seed():
    cfg = MaskingConfig(num_input_tokens=20, num_target_tokens=20, mixture=mixture())
    masker = Masker(SPECS, cfg)
    sample = make_sample(np.random.default_rng(0))
    assert_same(masker(sample, np.random.default_rng(7)), masker(sample, np.random.default_rng(7)))
    assert_same(masker(sample, 7), mask_sample(sample, SPECS, cfg, 7))
    runs = [masker(sample, s) for s in range(5)]
    assert any(not np.array_equal(r["tok_depth@32"].input_keep, runs[0]["tok_depth@32"].input_keep) for r in runs)


def test_zero_alpha_gives_nothing():
    alphas = {n: ModalityAlphas(input_alphas=(1.0,), target_alphas=(1.0,)) for n in NAMES}
    alphas["caption"] = ModalityAlphas(input_alphas=(0.0,), target_alphas=(3.0,))
    alphas["tok_depth@32"] = ModalityAlphas(input_alphas=(2.0,), target_alphas=(0.0,))
    cfg = MaskingConfig(num_input_tokens=30, num_target_tokens=30, mixture=AlphaMixture(modalities=alphas))
    masker = Masker(SPECS, cfg)
    for seed in range(30):
        out = masker(make_sample(np.random.default_rng(seed)), seed)
        assert out["caption"].input_budget == 0 and out["caption"].num_inputs == 0
        assert out["tok_depth@32"].target_budget == 0 and out["tok_depth@32"].num_targets == 0


def test_rgb2all_component_puts_all_input_on_rgb():
    cfg = MaskingConfig(num_input_tokens=10, num_target_tokens=10, mixture=rgb2all(0.5, NAMES, rgb="rgb@32"))
    out = Masker(SPECS, cfg)(make_sample(np.random.default_rng(0)), 0)
    assert out["rgb@32"].num_inputs == 10
    assert sum(m.num_inputs for m in out.values()) == 10


def test_budget_ranges():
    cfg = MaskingConfig(num_input_tokens=5, num_input_tokens_max=9, num_target_tokens=0, mixture=mixture())
    masker = Masker(SPECS, cfg)
    totals = {
        masker.draw_budgets(make_sample(np.random.default_rng(s)), np.random.default_rng(s)).num_input_tokens
        for s in range(60)
    }
    assert totals == {5, 6, 7, 8, 9}


def test_collate_batch_and_absent_modalities():
    cfg = MaskingConfig(num_input_tokens=20, num_target_tokens=20, mixture=mixture())
    masker = Masker(SPECS, cfg)
    samples = [masker(make_sample(np.random.default_rng(i), drop=("caption",) if i == 1 else ()), i) for i in range(3)]
    batch = collate(samples, SPECS)
    assert list(batch) == NAMES
    shapes = {n: tuple(mb.tensor.shape) for n, mb in batch.items()}
    assert shapes == {
        "rgb@32": (3, 3, 32, 32),
        "tok_depth@32": (3, 16),
        "tok_global": (3, 4),
        "caption": (3, 26),
        "metadata": (3, 22),
        "t5_emb": (3, 8, 3),
    }
    for name, mb in batch.items():
        assert isinstance(mb, ModalityBatch)
        assert (
            mb.input_keep.shape
            == mb.target_keep.shape
            == (3, SPECS[name].num_tokens if name in IMAGE_LIKE else 2 * (SPECS[name].num_tokens + 1))
        )
        assert mb.tensor.dtype == (torch.int64 if SPECS[name].is_discrete else torch.float32)
        for i, s in enumerate(samples):
            if name in s:
                assert torch.equal(mb.input_keep[i], torch.from_numpy(s[name].input_keep))
    assert not batch["caption"].input_keep[1].any() and not batch["caption"].target_keep[1].any()
    assert (batch["caption"].tensor[1] == 0).all()
    only_first = collate([samples[0], {}], {"caption": SPECS["caption"], "absent": SPECS["tok_global"]})
    assert list(only_first) == ["caption"]


@pytest.mark.parametrize(
    "specs_cfg, message",
    [
        (lambda: (SPECS, MaskingConfig(mixture=all2all(1.0, NAMES[:3]))), "no alphas"),
        (lambda: (SPECS, MaskingConfig(mixture=mixture(), max_tokens={"tok_global": 3})), "only sequence"),
        (lambda: (SPECS, MaskingConfig(mixture=mixture(), max_tokens={"nope": 3})), "unknown modalities"),
        (
            lambda: (
                {"tok_global": SPECS["tok_global"]},
                MaskingConfig(
                    mixture=AlphaMixture(
                        modalities={
                            "tok_global": ModalityAlphas(input_alphas=(1.0,), target_alphas=(1.0,), keep=("all",))
                        }
                    )
                ),
            ),
            "sequence",
        ),
        (lambda: (SPECS, MaskingConfig(num_input_tokens=5, num_input_tokens_max=4)), "min <= max"),
        (lambda: (SPECS, MaskingConfig(num_input_tokens=67, mixture=mixture())),  # SPECS hold 66 input tokens
         "masking.num_input_tokens=67 is more than the modalities hold as inputs"),
        (lambda: (SPECS, MaskingConfig(num_input_tokens=8, num_input_tokens_max=100, mixture=mixture())),
         "masking.num_input_tokens_max=100"),
        (lambda: (SPECS, MaskingConfig(num_input_tokens=8, num_target_tokens=43, mixture=mixture())),  # 42 discrete
         "masking.num_target_tokens=43 is more than the modalities hold as targets"),
        (lambda: (SPECS, MaskingConfig(num_input_tokens=8, num_target_tokens=8, num_target_tokens_max=43,
                                       mixture=mixture())),
         "masking.num_target_tokens_max=43"),
        (lambda: (SPECS, MaskingConfig(num_input_tokens=59, mixture=mixture(), max_tokens={"caption": 4})),
         "set it to at most 58"),  # the override shrinks the caption's 12 to 4
    ],
)
def test_config_errors(specs_cfg, message):
    with pytest.raises(ConfigError, match=message):
        Masker(*specs_cfg())


def test_budgets_up_to_the_capacity_are_accepted():
    masker = Masker(SPECS, MaskingConfig(num_input_tokens=66, num_target_tokens=42, mixture=mixture()))
    out = masker(make_sample(np.random.default_rng(0)), 0)
    assert set(out) == set(SPECS)


def test_bad_sample_shapes():
    masker = Masker(SPECS, MaskingConfig(num_input_tokens=20, num_target_tokens=20, mixture=mixture()))
    sample = make_sample(np.random.default_rng(0))
    with pytest.raises(ValueError, match="expected 16 token ids"):
        masker({**sample, "tok_depth@32": np.zeros(15, dtype=np.int64)}, 0)
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        masker({**sample, "rgb@32": np.zeros((3, 16, 16))}, 0)
    with pytest.raises(ValueError, match="embedding array"):
        masker({**sample, "t5_emb": np.zeros((9, 3))}, 0)


def test_max_tokens_override_changes_layout():
    cfg = MaskingConfig(num_input_tokens=20, num_target_tokens=20, mixture=mixture(), max_tokens={"caption": 4})
    out = Masker(SPECS, cfg)({"caption": np.arange(300, 310)}, 0)
    assert out["caption"].tensor.shape == (10,)
    inp, tgt = unpack_sequence(out["caption"].tensor, out["caption"].input_keep, out["caption"].target_keep)
    assert set(inp[~is_sentinel(inp)].tolist()) | set(tgt[~is_sentinel(tgt)].tolist()) <= {300, 301, 302, 303}


def test_masker_pickles_for_dataloader_workers():
    masker = Masker(SPECS, MaskingConfig(num_input_tokens=20, num_target_tokens=20, mixture=mixture()))
    clone = pickle.loads(pickle.dumps(masker))
    sample = make_sample(np.random.default_rng(3))
    assert_same(masker(sample, 11), clone(sample, 11))


def test_text_is_refused_with_a_hint():
    masker = Masker(SPECS, MaskingConfig(num_input_tokens=20, num_target_tokens=20, mixture=mixture()))
    with pytest.raises(TypeError, match="tokenize"):
        masker({"caption": "a red cube"}, 0)


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_goes_through_the_masker_and_the_model_adapters(kind):
    """A tiny batch of one kind: masked, collated, embedded by its encoder adapter (and decoder adapter)."""
    name = next((n for n, s in SPECS.items() if s.kind == kind), None)
    assert name is not None, f"SPECS has no {kind} modality"
    predictable = SPECS[name].predictable
    partner = next(n for n, s in SPECS.items() if s.predictable and s.kind != kind)
    specs = {n: SPECS[n] for n in (name, partner)}
    mix = AlphaMixture(modalities={
        name: ModalityAlphas(input_alphas=(1.0,), target_alphas=(1.0 if predictable else 0.0,)),
        partner: ModalityAlphas(input_alphas=(0.0,), target_alphas=(1.0,)),
    })  # fmt: skip
    masker = Masker(specs, MaskingConfig(num_input_tokens=2, num_target_tokens=6, mixture=mix))
    rng = np.random.default_rng(0)
    batch = collate([masker(make_sample(rng), rng) for _ in range(3)], specs)
    model = FourM(config_for_specs(specs, size=None, dim=32, encoder_depth=1, decoder_depth=1, num_heads=2))
    mb = batch[name]
    assert mb.input_keep.any(1).all(), f"{name}: every sample should have inputs"
    b, j = mb.input_keep.nonzero(as_tuple=True)
    x, pos = model.encoder_embeddings[name].embed(mb, b, j)
    assert x.shape == pos.shape == (len(b), 32) and torch.isfinite(x).all()
    if predictable:
        selection = model.decoder_embeddings[name].select(mb)
        assert len(selection.target) > 0 and int(selection.target.max()) < SPECS[name].vocab_size
    else:
        assert not mb.target_keep.any()
    out = model(batch)
    assert torch.isfinite(out.loss) and partner in out.loss_per_modality
