"""Plans: the builder, presets, expansion into iterations, YAML/JSON and the released formats."""

from __future__ import annotations

import pytest

from omnimask.config import ConfigError
from omnimask.generation import (
    Plan,
    Step,
    load_plan,
    plan,
    plan_from_mapping,
    plan_from_released_settings,
    plan_from_schedule,
    plan_to_schedule,
    save_plan,
)
from omnimask.modalities import fourm7_modalities

SPECS = fourm7_modalities()

#: The released text-to-image setting file ``T2CR_roar49-25_cfg3_t6-0.5.yaml`` (its format, verbatim keys).
T2CR = """\
name: auto
cond_domains: caption
target_domains: tok_clip@224-tok_rgb@224
tokens_per_target: 196
autoregression_schemes: roar-roar
decoding_steps: 49-25
token_decoding_schedules: linear
temps: 6.0-0.5
temp_schedules: onex:0.5:0.5-constant
cfg_scales: 3.0
cfg_schedules: constant
cfg_grow_conditioning: True
top_p: 0.9
top_k: 0.0
"""

SR = """\
sr_name: auto
sr_cond_domains: null
sr_target_domains: tok_clip@448-tok_rgb@448
sr_tokens_per_target: 784
sr_autoregression_schemes: maskgit
sr_decoding_steps: 8
sr_token_decoding_schedules: cosine
sr_temps: 1.0
sr_temp_schedules: constant
sr_cfg_scales: 3.0
sr_cfg_schedules: constant
sr_cfg_grow_conditioning: True
sr_top_p: 0.9
sr_top_k: 0.0
"""


def test_released_text_to_image_settings(tmp_path):
    path = tmp_path / "T2CR_roar49-25_cfg3_t6-0.5.yaml"
    path.write_text(T2CR)
    p = load_plan(path)
    assert p.conditions == ("caption",) and p.targets == ["tok_clip@224", "tok_rgb@224"]
    clip, rgb = p.steps
    assert (clip.scheme, clip.num_steps, clip.temperature) == ("roar", 49, 6.0)
    assert clip.temperature_schedule == "onex:0.5:0.5"
    assert (rgb.num_steps, rgb.temperature, rgb.temperature_schedule) == (25, 0.5, "constant")
    assert clip.guidance_conditions == ("caption",)
    assert rgb.guidance_conditions == ("caption", "tok_clip@224")  # grown with the finished target
    assert clip.top_p == 0.9 and rgb.guidance_scale == 3.0
    its = p.iterations()
    assert len(its) == 49 + 25 and [i.num_select for i in its[:49]] == [4] * 49
    assert sum(i.num_select for i in its[49:]) == 196
    assert its[0].temperature == pytest.approx(6.0 - 5.5 * 4 / 196) and its[48].temperature == pytest.approx(0.5)
    assert all(i.guidance.weights == (3.0,) for i in its) and its[-1].index == 73


def test_released_super_resolution_settings_take_given_conditions():
    import yaml

    p = plan_from_released_settings(yaml.safe_load(SR), conditions=["caption", "tok_clip@224"])
    assert p.targets == ["tok_clip@448", "tok_rgb@448"]
    assert p.steps[0].scheme == "maskgit" and p.steps[0].token_schedule == "cosine"
    assert [i.num_select for i in p.iterations()[:8]] == [30, 85, 127, 150, 150, 127, 85, 30]
    with pytest.raises(ValueError, match="cond_domains open"):
        plan_from_released_settings(yaml.safe_load(SR))


def test_builder_presets_and_per_target_settings():
    fast = plan(["rgb@224"], ["tok_depth@224", "caption"], SPECS)
    assert (fast.steps[0].scheme, fast.steps[0].num_steps, fast.steps[0].temperature) == ("roar", 1, 0.0)
    assert fast.steps[1].scheme == "autoregressive" and fast.steps[1].guidance_scale == 1.0
    q = plan(["rgb@224"], ["tok_depth@224", "caption"], SPECS, preset="quality")
    assert (q.steps[0].num_steps, q.steps[0].temperature, q.steps[0].guidance_scale) == (1, 0.01, 2.0)
    assert q.steps[1].guidance_conditions == ("rgb@224", "tok_depth@224")  # quality grows conditioning
    t2i = plan(["caption"], ["tok_rgb@224"], SPECS, preset="quality", guidance_scale=3.0,
               per_target={"tok_rgb@224": {"num_steps": 49}})
    assert (t2i.steps[0].num_steps, t2i.steps[0].guidance_scale, t2i.steps[0].temperature_schedule) == (
        49, 3.0, "onex:0.5:0.5")
    weighted = plan(["caption", "tok_depth@224"], ["tok_rgb@224", "tok_semseg@224"], SPECS, grow_conditioning=True,
                    per_target={"tok_rgb@224": {"guidance_scale": (1.5, -0.5)},
                                "tok_semseg@224": {"guidance_scale": (1.5, -0.5, 1.25)}})
    its = weighted.iterations({"tok_rgb@224": 196, "tok_semseg@224": 196})
    assert its[1].guidance.multi and its[1].guidance.conditions == ("caption", "tok_depth@224", "tok_rgb@224")


def test_builder_errors():
    with pytest.raises(ValueError, match="unknown modalities"):
        plan(["rgb"], ["tok_depth@224"], SPECS)
    with pytest.raises(ValueError, match="cannot be generated"):
        plan(["caption"], ["rgb@224"], SPECS)
    with pytest.raises(ValueError, match="not targets"):
        plan(["caption"], ["tok_rgb@224"], SPECS, per_target={"tok_depth@224": {}})
    with pytest.raises(ValueError, match="2 guidance weights for 1"):
        plan(["caption"], ["tok_rgb@224"], SPECS, guidance_scale=(1.0, 2.0))
    with pytest.raises(ValueError, match="each target once"):
        Plan((Step(target="a"), Step(target="a")))
    with pytest.raises(ValueError, match="unknown scheme"):
        Step(target="a", scheme="diffusion")


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_our_format_round_trips(tmp_path, suffix):
    p = plan(["caption", "tok_depth@224"], ["tok_rgb@224", "caption"][:1], SPECS, preset="quality",
             per_target={"tok_rgb@224": {"guidance_scale": (1.5, -0.5), "token_schedule": (100, 96),
                                         "guidance_schedule": "constant"}})
    p = Plan((*p.steps, Step(target="det", scheme="autoregressive", temperature=0.3, num_tokens=64)),
             p.conditions, "mine")
    back = load_plan(save_plan(p, tmp_path / f"plan{suffix}"))
    assert back == p


def test_flat_schedule_round_trip():
    p = plan(["caption"], ["tok_rgb@224", "det"], SPECS, preset="quality", guidance_scale=3.0,
             per_target={"tok_rgb@224": {"scheme": "maskgit", "num_steps": 4, "token_schedule": "cosine"}})
    schedule = plan_to_schedule(p, {"tok_rgb@224": 196})
    assert [s["num_tokens"] for s in schedule] == [29, 69, 69, 29, None]
    again = plan_to_schedule(plan_from_schedule(schedule, ["caption"]), {"tok_rgb@224": 196})
    assert again == schedule


def test_totals_needed_for_image_targets():
    with pytest.raises(ValueError, match="how many tokens"):
        Plan((Step(target="tok_rgb@224"),)).iterations()
    assert Plan((Step(target="tok_rgb@224", num_tokens=10, num_steps=2),)).iterations()[1].num_select == 5


#: Plans that parse as YAML / JSON but have the wrong shape, and what the refusal names.
WRONG_SHAPES = [
    ([1, 2], "plan schedule.0: expected a mapping"),
    ([], "non-empty released schedule list; got list []"),
    (None, "got NoneType None"),
    ("fast", "got str 'fast'"),
    ({"stepz": []}, "not a plan: expected 'steps'"),
    ({"steps": 3, "foo": "bar"}, "plan steps: expected a list of steps"),
    ({"steps": []}, "plan steps: empty"),
    ({"steps": [3]}, "plan steps.0: expected a mapping"),
    ({"steps": [{"scheme": "roar"}]}, "plan steps.0 names no target"),
    ({"steps": [{"target": "tok_rgb@224", "speed": 2}]}, "plan steps.0 has unknown fields ['speed']"),
    ({"steps": [{"target": "tok_rgb@224", "num_steps": "many"}]}, "plan steps.0.num_steps: expected an integer"),
    ({"steps": [{"target": "tok_rgb@224", "temperature": [1]}]}, "plan steps.0.temperature: expected a number"),
    ({"steps": [{"target": "tok_rgb@224"}], "conditions": "caption"}, "plan conditions: expected a list"),
    ([{"target_domain": "tok_rgb@224"}], "plan schedule.0 lacks ['scheme', 'temperature', 'num_tokens']"),
    ([{"target_domain": "tok_rgb@224", "scheme": "roar", "temperature": 1.0, "num_tokens": None}],
     "plan schedule.0 lacks ['num_tokens']"),
    ([{"target_domain": "tok_rgb@224", "scheme": "roar", "temperature": "hot", "num_tokens": 4}],
     "plan schedule.0.temperature: expected a number"),
    ({"target_domains": "tok_rgb@224", "cond_domains": "caption", "decoding_steps": "x"}, "plan decoding_steps:"),
    ({"target_domains": "tok_rgb@224", "cond_domains": "caption", "decoding_steps": [[8]]}, "a list inside the list"),
    ({"target_domains": {"tok_rgb@224": 1}, "cond_domains": "caption"}, "plan target_domains:"),
    ({"target_domains": "tok_rgb@224", "cond_domains": "caption", "top_p": "high"}, "plan top_p:"),
]


@pytest.mark.parametrize(("data", "fragment"), WRONG_SHAPES, ids=[str(i) for i in range(len(WRONG_SHAPES))])
def test_a_plan_of_the_wrong_shape_is_refused_naming_the_key(data, fragment):
    with pytest.raises(ConfigError) as caught:
        plan_from_mapping(data, conditions=["caption"])
    assert fragment in str(caught.value)


def test_a_wrong_plan_file_is_refused_naming_the_key(tmp_path):
    path = tmp_path / "plan.yaml"
    path.write_text("steps: 3\n")
    with pytest.raises(ConfigError, match="plan steps: expected a list of steps"):
        load_plan(path)
