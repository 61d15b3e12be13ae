"""Typed configs: overrides parse against annotations, unknown keys and bad values are refused."""

import dataclasses
import json
import typing

import pytest

from omnimask.config import (
    ConfigError,
    apply_overrides,
    from_dict,
    load_config,
    save_config,
    to_dict,
)


@dataclasses.dataclass(kw_only=True)
class Optim:
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.95)
    schedule: str = "cosine"


@dataclasses.dataclass(kw_only=True)
class Run:
    steps: int = 10
    bf16: bool = False
    name: str | None = None
    tags: list[str] = dataclasses.field(default_factory=list)
    optim: Optim = dataclasses.field(default_factory=Optim)


def test_overrides_parse_to_annotated_types():
    cfg = apply_overrides(Run(), ["steps=1e3", "bf16=true", "optim.lr=3e-4", "optim.betas=[0.8,0.99]",
                                  "tags=a,b", "name=007"])
    assert cfg.steps == 1000 and isinstance(cfg.steps, int)
    assert cfg.bf16 is True
    assert cfg.optim.lr == pytest.approx(3e-4)
    assert cfg.optim.betas == (0.8, 0.99)
    assert cfg.tags == ["a", "b"]
    assert cfg.name == "007"


def test_overrides_do_not_mutate_the_input():
    base = Run()
    apply_overrides(base, ["optim.lr=1"])
    assert base.optim.lr == 1e-3


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("stepz=3", "unknown key 'stepz'.*'steps'"),
        ("optim.momentum=3", "unknown key 'optim.momentum'.*'lr'"),
        ("steps=ten", "steps: expected an integer"),
        ("bf16=maybe", "bf16: expected true/false"),
        ("optim.betas=[1]", "expected 2 values"),
        ("steps", "must look like dotted.key=value"),
        ("steps.x=1", "not a config section"),
    ],
)
def test_bad_overrides_name_the_key(assignment, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(Run(), [assignment])


def test_json_round_trip(tmp_path):
    cfg = apply_overrides(Run(), ["optim.lr=0.5", "tags=[\"x\"]"])
    path = save_config(cfg, tmp_path / "config.json")
    assert json.loads(path.read_text())["optim"]["betas"] == [0.9, 0.95]
    assert load_config(Run, path) == cfg
    assert to_dict(from_dict(Run, to_dict(cfg))) == to_dict(cfg)


def test_from_dict_rejects_unknown_keys():
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['extra'\] in optim"):
        from_dict(Run, {"optim": {"extra": 1}})


@dataclasses.dataclass(kw_only=True)
class Modes:
    norm: typing.Literal["none", "mean_std"] = "mean_std"
    limit: int | None = 3


def test_none_words_mean_none_only_for_optional_fields():
    cfg = apply_overrides(Modes(), ["norm=none", "limit=none"])
    assert cfg.norm == "none" and cfg.limit is None
    with pytest.raises(ConfigError, match="norm"):
        apply_overrides(Modes(), ["norm=null"])


@dataclasses.dataclass(kw_only=True)
class Source:
    kind: str = "synth"
    path: str = ""

    def __post_init__(self):
        if self.kind == "store" and not self.path:
            raise ConfigError("a store needs a path")


@dataclasses.dataclass(kw_only=True)
class WithSource:
    data: Source = dataclasses.field(default_factory=Source)


def test_overrides_are_validated_together_in_any_order():
    assert apply_overrides(WithSource(), ["data.kind=store", "data.path=/x"]).data == Source(kind="store", path="/x")
    with pytest.raises(ConfigError, match="a store needs a path"):
        apply_overrides(WithSource(), ["data.kind=store"])
