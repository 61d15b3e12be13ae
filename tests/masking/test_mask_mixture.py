"""Alpha mixtures: the released flat and sampling_weights YAML forms, our form, builders, errors."""

import json

import pytest
import yaml

from omnimask.config import ConfigError, from_dict, to_dict
from omnimask.masking import (
    AlphaMixture,
    MaskingConfig,
    all2all,
    combine_mixtures,
    load_alpha_mixture,
    one_way,
    parse_alpha_mixture,
    rgb2all,
    save_alpha_mixture,
)

# Modelled on the released cfgs/default/4m/alphas_mixture/main/mix_mod7_all2all_rgb2all_a0.5.yaml (flat form).
FLAT_YAML = """
# Half of all samples from this mixture are rgb2all, half are all2all
rgb@224:
  input_alphas: [1000.0, 0.5]
  target_alphas: [0., 0.]  # RGB is not a target
tok_rgb@224:
  input_alphas: [0., 0.5]
  target_alphas: [0.5, 0.5]
tok_depth@224:
  input_alphas: [0., 0.5]
  target_alphas: [0.5, 0.5]
caption:
  input_alphas: [0., 0.5]
  target_alphas: [0.5, 0.5]
  keep: ['random', 'random']
"""

# Modelled on the released 4M-21 mix_mod21_all2allmix_rgb2all_capT5bias.yaml (sampling_weights form).
WEIGHTED_YAML = """
sampling_weights: [1.0, 1.0, 0.5]

alphas_mixture:
  rgb@224:
    input_alphas: [0.01, 1000.0, 0.05]
    target_alphas: [0.0, 0.0, 0.0]
  caption:
    input_alphas: [0.01, 0.0, 5.0]
    target_alphas: [0.01, 0.5, 0.0]
    keep: ['random', 'random', 'all']
  color_palette:
    input_alphas: [0.01, 0.0, 0.05]
    target_alphas: [0.01, 0.5, 0.5]
    keep: ['binary', 'binary', 'binary']
  tok_dinov2_global:
    input_alphas: [0.01, 0.0, 0.05]
    target_alphas: [0.01, 0.5, 0.5]
"""

MODS = ["rgb@224", "tok_rgb@224", "tok_depth@224", "caption"]


def test_flat_form(tmp_path):
    path = tmp_path / "mix.yaml"
    path.write_text(FLAT_YAML)
    mix = load_alpha_mixture(path)
    assert mix.names == ("rgb@224", "tok_rgb@224", "tok_depth@224", "caption")
    assert mix.num_components == 2 and mix.sampling_weights is None and mix.weights() == (0.5, 0.5)
    assert mix.modalities["rgb@224"].input_alphas == (1000.0, 0.5)
    assert mix.modalities["rgb@224"].target_alphas == (0.0, 0.0)
    assert mix.modalities["tok_depth@224"].keep == ("random", "random")  # default


def test_sampling_weights_form():
    mix = parse_alpha_mixture(yaml.safe_load(WEIGHTED_YAML))
    assert mix.sampling_weights == (1.0, 1.0, 0.5)
    assert mix.weights() == (0.4, 0.4, 0.2)
    assert mix.modalities["caption"].keep == ("random", "random", "all")
    assert mix.modalities["color_palette"].keep == ("binary",) * 3
    assert mix.modalities["tok_dinov2_global"].input_alphas == (0.01, 0.0, 0.05)


def test_builders_reproduce_the_released_mixture():
    built = combine_mixtures([rgb2all(0.5, MODS), all2all(0.5, MODS, input_only=["rgb@224"])])
    assert built == load_alpha_mixture(yaml.safe_load(FLAT_YAML))


def test_combine_weights_and_missing_modalities():
    a = all2all(1.0, ["x", "y"])
    b = combine_mixtures([rgb2all(0.5, ["x", "z"], rgb="x"), all2all(0.2, ["x", "y"])])  # equal weights: uniform
    assert b.sampling_weights is None
    assert b.modalities["y"].input_alphas == (0.0, 0.2)  # y absent from rgb2all → α 0 there
    c = combine_mixtures([(a, 3.0), (b, 1.0)])
    assert c.weights() == pytest.approx((0.75, 0.125, 0.125))
    assert c.modalities["z"].target_alphas == (0.0, 0.5, 0.0)


def test_our_form_round_trips(tmp_path):
    mix = parse_alpha_mixture(yaml.safe_load(WEIGHTED_YAML))
    for name in ("mix.json", "mix.yaml"):
        assert load_alpha_mixture(save_alpha_mixture(mix, tmp_path / name)) == mix
    data = json.loads((tmp_path / "mix.json").read_text())
    assert set(data) == {"sampling_weights", "modalities"}
    # the config system reads the same form (MaskingConfig.mixture from config.json / --set)
    cfg = from_dict(MaskingConfig, {"mixture": to_dict(mix)})
    assert cfg.mixture == mix and to_dict(cfg)["mixture"] == data


def test_mixture_path_replaces_mixture(tmp_path):
    path = tmp_path / "mix.yaml"
    path.write_text(FLAT_YAML)
    cfg = MaskingConfig(mixture=all2all(1.0, ["a"]), mixture_path=str(path))
    assert cfg.resolve_mixture().names == tuple(MODS)
    with pytest.raises(ConfigError, match="mixture_path"):
        MaskingConfig().resolve_mixture()


@pytest.mark.parametrize(
    "data, message",
    [
        ({"a": {"input_alphas": [1.0], "target_alphas": [1.0, 2.0]}}, "same, non-zero number"),
        (
            {
                "a": {"input_alphas": [1.0], "target_alphas": [1.0]},
                "b": {"input_alphas": [1, 2], "target_alphas": [1, 2]},
            },
            "same number of mixture components",
        ),
        ({"a": {"input_alphas": [-1.0], "target_alphas": [1.0]}}, ">= 0"),
        ({"a": {"input_alphas": [1.0], "target_alphas": [1.0], "keep": ["sometimes"]}}, "unknown keep"),
        ({"a": {"input_alphas": [1.0], "target_alphas": [1.0], "kep": ["all"]}}, "unknown key"),
        (
            {"sampling_weights": [1.0, 2.0], "alphas_mixture": {"a": {"input_alphas": [1.0], "target_alphas": [1.0]}}},
            "sampling_weights",
        ),
        ({"a": [1.0]}, "input_alphas and target_alphas"),
    ],
)
def test_bad_mixtures_are_refused(data, message):
    with pytest.raises(ConfigError, match=message):
        parse_alpha_mixture(data)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_alpha_mixture(tmp_path / "nope.yaml")


def test_restrict():
    mix = load_alpha_mixture(yaml.safe_load(FLAT_YAML)).restrict(["caption", "rgb@224"])
    assert mix.names == ("caption", "rgb@224")
    with pytest.raises(ConfigError, match="no alphas"):
        mix.restrict(["det"])
    assert isinstance(mix, AlphaMixture)


def test_one_way_conditions_on_its_inputs_only_and_predicts_its_targets_only():
    mix = one_way(["caption", "rgb@64"], ["tok_rgb@64", "det"], alpha=0.5, whole=["caption"])
    table = mix.modalities
    assert table["caption"].input_alphas == (0.5,) and table["caption"].target_alphas == (0.0,)
    assert table["caption"].keep == ("all",) and table["rgb@64"].keep == ("random",)
    assert table["det"].input_alphas == (0.0,) and table["det"].target_alphas == (0.5,)
    assert set(table) == {"caption", "rgb@64", "tok_rgb@64", "det"}
    with pytest.raises(ConfigError, match="disjoint"):
        one_way(["rgb@64"], ["rgb@64"])
    with pytest.raises(ConfigError, match="non-empty"):
        one_way(["rgb@64"], [])
