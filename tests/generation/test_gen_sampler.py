"""The behaviour the issue asks of generation, on a tiny random model (every strategy, both kinds)."""

from __future__ import annotations

import pytest
import torch

from omnimask.generation import Guidance, Logits, ModelRunner, Plan, Sampler, Step
from omnimask.generation.state import commit, full_condition, pending
from omnimask.generation.strategies import STRATEGIES, schemes_for


def rgb_only(conditions):
    return {"rgb": conditions["rgb"]}


def image_plan(scheme: str, steps: int, target: str = "tok_a", **kw) -> Plan:
    schedule = "cosine" if scheme == "maskgit" else "linear"
    return Plan((Step(target=target, scheme=scheme, num_steps=steps, token_schedule=schedule, **kw),))


@pytest.mark.parametrize(
    "plan",
    [
        image_plan("maskgit", 4, temperature=1.0, top_k=5),
        image_plan("roar", 3, temperature=0.7, top_p=0.9),
        image_plan("roar", 1, target="glob", temperature=0.0),
        Plan((Step(target="tok_b", scheme="maskgit", num_steps=2, temperature=1.0),
              Step(target="cap", scheme="autoregressive", temperature=1.0),
              Step(target="glob", scheme="maskgit", num_steps=3, temperature=0.0, guidance_scale=2.0,
                   guidance_conditions=("rgb", "tok_b")))),
    ],
    ids=["maskgit", "roar", "global", "chain"],
)
def test_every_slot_filled_with_valid_ids(model, conditions, plan):
    result = Sampler(model).generate(rgb_only(conditions), plan, seed=5)
    for target in plan.targets:
        mb = result.state[target]
        spec = model.specs[target]
        assert not mb.target_keep.any(), f"{target} has undecoded slots"
        real = mb.tensor[mb.input_keep]
        if spec.kind == "sequence":  # the merged text may be empty (the model may stop at once)
            real = torch.cat([real, *(r.generated.flatten() for r in result.records if r.iteration.target == target)])
        else:
            assert mb.input_keep.all()
        assert real.numel() and int(real.min()) >= 0 and int(real.max()) < spec.vocab_size


@pytest.mark.parametrize("scheme", list(STRATEGIES))
def test_each_strategy_fills_every_target_it_fits_and_a_seed_reproduces_it(model, conditions, scheme):
    targets = [name for name, spec in model.specs.items() if spec.predictable and scheme in schemes_for(spec)]
    assert targets, f"{scheme} fits no modality kind of the tiny model"
    for target in targets:
        plan = Plan((Step(target=target, scheme=scheme, num_steps=2, temperature=1.5),))
        sampler = Sampler(model)
        first, again = (sampler.generate(rgb_only(conditions), plan, seed=3) for _ in range(2))
        mb = first.state[target]
        assert not mb.target_keep.any(), f"{scheme} left {target} slots undecoded"
        if not model.specs[target].is_sequence:
            assert mb.input_keep.all()
        assert torch.equal(first.tokens(target), again.tokens(target))
        assert torch.equal(mb.input_keep, again.state[target].input_keep)


def test_same_seed_reproduces_and_seeds_differ(model, conditions):
    plan = Plan((Step(target="tok_a", scheme="roar", num_steps=3, temperature=2.0),
                 Step(target="cap", scheme="autoregressive", temperature=2.0)))
    sampler = Sampler(model)
    a, b = (sampler.generate(rgb_only(conditions), plan, seed=11) for _ in range(2))
    c = sampler.generate(rgb_only(conditions), plan, seed=12)
    for m in plan.targets:
        assert torch.equal(a.tokens(m), b.tokens(m))
    assert any(a.tokens(m).shape != c.tokens(m).shape or not torch.equal(a.tokens(m), c.tokens(m))
               for m in plan.targets)


def test_maskgit_one_step_equals_roar_one_step_at_argmax(model, conditions):
    sampler = Sampler(model)
    mg = sampler.generate(conditions, image_plan("maskgit", 1, temperature=0.0), seed=0)
    roar = sampler.generate(conditions, image_plan("roar", 1, temperature=0.0), seed=0)
    assert torch.equal(mg.tokens("tok_a"), roar.tokens("tok_a"))


@pytest.mark.parametrize("scheme", ["maskgit", "roar", "autoregressive"])
def test_cfg_scale_one_equals_no_guidance(model, conditions, scheme):
    target = "cap" if scheme == "autoregressive" else "tok_a"
    conds = rgb_only(conditions) if target == "cap" else conditions
    base = {"target": target, "scheme": scheme, "temperature": 1.0}
    if scheme != "autoregressive":
        base.update(num_steps=3, token_schedule="linear")
    plain = Sampler(model).generate(conds, Plan((Step(**base),)), seed=3)
    scaled = Sampler(model).generate(conds, Plan((Step(**base, guidance_scale=1.0,
                                                       guidance_conditions=tuple(conds)),)), seed=3)
    assert torch.equal(plain.tokens(target), scaled.tokens(target))


@pytest.mark.parametrize("target", ["tok_a", "cap"])
def test_multi_condition_with_one_condition_equals_cfg(model, conditions, target):
    """Weighted guidance with condition c of weight w is CFG with scale w (image and sequence targets)."""
    conds = rgb_only(conditions) if target == "cap" else conditions
    state = Sampler(model).prepare(conds, Plan((Step(target=target, scheme="autoregressive" if target == "cap"
                                                     else "maskgit"),)))
    runner = ModelRunner(model)
    cfg = Logits(runner, model.specs, Guidance.classifier_free(2.5, ["rgb"]))
    multi = Logits(runner, model.specs, Guidance.weighted([2.5], ["rgb"]))
    if target == "cap":
        a, b = cfg.sequence(state, target), multi.sequence(state, target)
        token = torch.full((2, 1), 5)
        for slot in range(3):
            la, lb = a.next(slot, token), b.next(slot, token)
            torch.testing.assert_close(la, lb, rtol=0, atol=1e-5)
            token = la.argmax(-1, keepdim=True)
    else:
        positions, keep = pending(state[target])
        torch.testing.assert_close(cfg.grid(state, target, positions, keep),
                                   multi.grid(state, target, positions, keep), rtol=0, atol=1e-5)


def test_guidance_combines_views_as_documented(model, conditions):
    """l = u + Σ w_i (c_i − u): c_i keeps condition i only, u empties every condition."""
    sampler = Sampler(model)
    state = sampler.prepare(conditions, image_plan("maskgit", 2))
    positions, keep = pending(state["tok_a"])
    plain = Logits(ModelRunner(model), model.specs, None)
    guided = Logits(ModelRunner(model), model.specs, Guidance.weighted([1.5, -0.5], ["rgb", "cap"]))
    views = guided.guidance.views(state, model.specs)
    c_rgb, c_cap, u = (plain.grid(v, "tok_a", positions, keep) for v in views)
    assert not views[0]["cap"].input_keep.any() and views[0]["rgb"].input_keep.all()
    assert views[2]["cap"].input_keep.sum(1).tolist() == [1, 1]  # the emptied caption keeps its [S_1]
    expected = u + 1.5 * (c_rgb - u) - 0.5 * (c_cap - u)
    torch.testing.assert_close(guided.grid(state, "tok_a", positions, keep), expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("guided", [False, True])
def test_kv_cached_autoregression_equals_uncached(model, conditions, guided):
    plan = Plan((Step(target="cap", scheme="autoregressive", temperature=0.0,
                      guidance_scale=2.0 if guided else 1.0, guidance_conditions=("rgb",)),))
    fast = Sampler(model, fast=True, diagnostics=True).generate(rgb_only(conditions), plan)
    naive = Sampler(model, fast=False, diagnostics=True).generate(rgb_only(conditions), plan)
    assert torch.equal(fast.records[0].generated, naive.records[0].generated)
    assert fast.records[0].generated.shape[1] > 3
    torch.testing.assert_close(fast.records[0].generated_margins, naive.records[0].generated_margins,
                               rtol=0, atol=1e-4)
    assert torch.equal(fast.tokens("cap"), naive.tokens("cap"))


def test_batched_guidance_views_equal_separate_passes(model, conditions):
    plan = image_plan("maskgit", 3, temperature=0.0, guidance_scale=3.0, guidance_conditions=("rgb", "cap"))
    fast = Sampler(model, fast=True, diagnostics=True).generate(conditions, plan)
    naive = Sampler(model, fast=False, diagnostics=True).generate(conditions, plan)
    assert torch.equal(fast.tokens("tok_a"), naive.tokens("tok_a"))
    for a, b in zip(fast.records, naive.records):
        torch.testing.assert_close(a.candidate_margins, b.candidate_margins, rtol=0, atol=1e-4)


@pytest.mark.parametrize("scheme", ["maskgit", "roar"])
def test_inpainting_keeps_given_tokens(model, conditions, scheme):
    g = torch.Generator().manual_seed(7)
    given = torch.randint(0, 24, (2, 9), generator=g)
    keep = torch.tensor([[1, 1, 0, 0, 1, 0, 0, 0, 1], [0, 0, 0, 1, 1, 1, 0, 0, 0]], dtype=torch.bool)
    partial = full_condition(model.specs["tok_a"], given).replace(input_keep=keep, target_keep=~keep)
    plan = image_plan(scheme, 2, temperature=1.5)
    result = Sampler(model).generate({**conditions, "tok_a": partial}, plan, seed=1)
    out = result.state["tok_a"]
    assert torch.equal(out.tensor[keep], given[keep])
    assert out.input_keep.all() and not out.target_keep.any()
    committed = torch.cat([r.positions[r.valid] for r in result.records])
    assert committed.numel() == int((~keep).sum())  # rows of 5 and 6 slots: ragged, all filled once


def test_chained_targets_condition_later_ones(model, conditions):
    """tok_b is decoded with the finished tok_a as input: changing tok_a changes tok_b's logits."""
    plan = Plan((Step(target="tok_a", scheme="roar", num_steps=1, temperature=0.0),
                 Step(target="tok_b", scheme="maskgit", num_steps=1, temperature=0.0)))
    steps = list(Sampler(model, diagnostics=True, precision="fp32").iterate(rgb_only(conditions), plan, seed=0))
    after_a = steps[0].state
    assert after_a["tok_a"].input_keep.all()
    logits = Logits(ModelRunner(model), model.specs, None)
    positions, keep = pending(after_a["tok_b"])
    with_a = logits.grid(after_a, "tok_b", positions, keep)
    flipped = commit(after_a["tok_a"], torch.arange(9).repeat(2, 1), (after_a["tok_a"].tensor + 1) % 24)
    changed = logits.grid({**after_a, "tok_a": flipped}, "tok_b", positions, keep)
    assert (with_a - changed).abs().max() > 1e-3
    torch.testing.assert_close(steps[1].record.candidate_margins,
                               torch.topk(with_a, 2, -1).values.diff(dim=-1).neg()[..., 0], rtol=0, atol=1e-5)


def test_iterate_yields_every_intermediate_state(model, conditions):
    plan = image_plan("maskgit", 4, temperature=0.0)
    states = [s.state["tok_a"].target_keep.sum().item() for s in Sampler(model).iterate(conditions, plan)]
    assert states == [16, 10, 4, 0]  # cosine over 9 tokens: [1, 3, 3, 2] per row, 2 rows


def test_errors_say_what_to_do(model, conditions):
    with pytest.raises(ValueError, match="does not fit"):
        Sampler(model).generate(conditions, Plan((Step(target="tok_a", scheme="autoregressive"),)))
    with pytest.raises(ValueError, match="cannot be generated"):
        Sampler(model).generate({"cap": conditions["cap"]}, Plan((Step(target="rgb"),)))
    with pytest.raises(ValueError, match="not in the generation state"):
        Sampler(model).generate(rgb_only(conditions), image_plan("maskgit", 2, guidance_scale=2.0,
                                                                 guidance_conditions=("cap",)))


@pytest.mark.parametrize("blocks_bf16", [False, True])
@pytest.mark.parametrize("head_bf16", [False, True])
def test_auto_precision_mixes_dtypes_per_call_and_all_fp32_equals_fp32(model, conditions, monkeypatch,
                                                                       blocks_bf16, head_bf16):
    """``auto`` runs encoder, decoder blocks and output head each in its own dtype: every mix generates
    (caches, encoder states and hidden states cross the dtype boundaries), and all-fp32 is exactly fp32."""
    from omnimask import precision

    vocabs = {spec.vocab_size for spec in model.specs.values()}
    monkeypatch.setattr(precision, "bf16_wins",
                        lambda rows, inner, outer, cast: head_bf16 if outer in vocabs else blocks_bf16)
    plan = Plan((Step(target="tok_b", scheme="maskgit", num_steps=2, temperature=0.0, guidance_scale=2.0,
                      guidance_conditions=("rgb",)),
                 Step(target="cap", scheme="autoregressive", temperature=0.0)))
    auto = Sampler(model, precision="auto").generate(rgb_only(conditions), plan, seed=1)
    for target in plan.targets:
        assert not auto.state[target].target_keep.any(), f"{target} has undecoded slots"
    if not (blocks_bf16 or head_bf16):
        fp32 = Sampler(model, precision="fp32").generate(rgb_only(conditions), plan, seed=1)
        for target in plan.targets:
            assert torch.equal(auto.tokens(target), fp32.tokens(target))
