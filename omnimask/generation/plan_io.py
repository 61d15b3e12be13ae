"""Reading and writing generation plans: our YAML / JSON format and the released 4M formats.

Three inputs are understood by :func:`plan_from_mapping` / :func:`load_plan`:

* **ours** — ``{"name": ..., "conditions": [...], "steps": [{"target": ..., <Step fields>}, ...]}``
  (what :func:`save_plan` writes);
* **released generation settings** — the YAML files of ml-4m (e.g. ``T2CR_roar49-25_cfg3_t6-0.5``:
  ``cond_domains: caption``, ``target_domains: tok_clip@224-tok_rgb@224``, ``decoding_steps: 49-25``,
  ``temps: 6.0-0.5``, ``temp_schedules: onex:0.5:0.5-constant``, ``cfg_scales: 3.0``,
  ``cfg_grow_conditioning: True``, ``top_p: 0.9`` …): dash-separated per-target values, a single
  value meaning "every target", ``sr_``-prefixed keys for super-resolution files; the same keys
  given as lists are the arguments of the release's ``build_chained_generation_schedules``;
* **a released flat schedule** — the list of ``{target_domain, scheme, num_tokens, temperature,
  cfg_scale, cfg_cond_domains}`` per iteration (:func:`plan_from_schedule`), which
  :func:`plan_to_schedule` writes back.

Weighted multi-condition guidance appears in the release as a *list* of weights per target, one per
condition dict: the given conditions first, then each finished target in order.
"""

from __future__ import annotations

import dataclasses
import json
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

import yaml

from omnimask.config import ConfigError
from omnimask.generation.plan import Plan, Step
from omnimask.generation.strategies import AUTOREGRESSIVE

#: Keys of the released settings / builder arguments, in the release's order.
RELEASED_KEYS = (
    "cond_domains", "target_domains", "tokens_per_target", "autoregression_schemes", "decoding_steps",
    "token_decoding_schedules", "temps", "temp_schedules", "cfg_scales", "cfg_schedules", "cfg_grow_conditioning",
)
_TUPLE_FIELDS = ("token_schedule", "temperature_schedule", "guidance_schedule", "guidance_conditions", "guidance_scale")


# ---------------------------------------------------------------------------------------------
# The shape of a plan file: every refusal is a ConfigError naming the key (the CLI prints it as one
# line, the server answers it as a 422 naming the field)
# ---------------------------------------------------------------------------------------------
#: Per annotated type: the YAML / JSON values that stand for it, and how a message names it.
_YAML_FORMS: dict[Any, tuple[tuple[type, ...], str]] = {
    str: ((str,), "a string"), int: ((int,), "an integer"), float: ((int, float), "a number"),
    tuple: ((list, tuple), "a list"), type(None): ((type(None),), "null"),
}


def _form(annotation: Any) -> tuple[tuple[type, ...], str]:
    """The YAML / JSON values an ``annotation`` (``str | tuple[int, ...]`` ...) accepts, and their description."""
    union = get_origin(annotation) in (Union, types.UnionType)
    parts = [get_origin(a) or a for a in (get_args(annotation) if union else (annotation,))]
    return tuple(t for p in parts for t in _YAML_FORMS[p][0]), " or ".join(_YAML_FORMS[p][1] for p in parts)


#: Each :class:`Step` field of our format: (accepted YAML / JSON values, their description).
STEP_FIELDS: dict[str, tuple[tuple[type, ...], str]] = {n: _form(t) for n, t in get_type_hints(Step).items()}
#: Each field of a released flat-schedule entry, likewise; :data:`SCHEDULE_REQUIRED` must be given.
SCHEDULE_FIELDS: dict[str, tuple[tuple[type, ...], str]] = {
    "target_domain": _form(str), "scheme": _form(str), "num_tokens": _form(int | None), "temperature": _form(float),
    "cfg_scale": _form(float | tuple), "cfg_cond_domains": _form(tuple | None),
}
SCHEDULE_REQUIRED = ("target_domain", "scheme", "temperature")  # and num_tokens unless autoregressive


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def _mapping(value: Any, where: str, form: str) -> Mapping[str, Any]:
    """``value`` if it is a mapping; otherwise a ConfigError saying that ``where`` should be ``form``."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"plan {where}: expected {form}, got {_shown(value)}")
    return value


def _list(value: Any, where: str, form: str) -> list[Any]:
    """``value`` if it is a list; otherwise a ConfigError saying that ``where`` should be ``form``."""
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"plan {where}: expected {form}, got {_shown(value)}")
    return list(value)


def _check_values(entry: Mapping[str, Any], forms: Mapping[str, tuple[tuple[type, ...], str]], where: str) -> None:
    """Refuse a value of ``entry`` whose type its field's form does not accept (naming ``where.key``)."""
    for key, value in entry.items():
        accepted, described = forms.get(key, ((object,), ""))
        if not isinstance(value, accepted):
            raise ConfigError(f"plan {where}.{key}: expected {described}, got {_shown(value)}")


# ---------------------------------------------------------------------------------------------
# Our format
# ---------------------------------------------------------------------------------------------
def plan_to_dict(plan: Plan) -> dict[str, Any]:
    """A JSON/YAML-ready dict of ``plan`` (fields equal to their defaults are left out)."""
    defaults = Step(target="_")
    steps = []
    for step in plan.steps:
        entry: dict[str, Any] = {"target": step.target}
        for f in dataclasses.fields(Step):
            value = getattr(step, f.name)
            if f.name != "target" and value != getattr(defaults, f.name):
                entry[f.name] = list(value) if isinstance(value, tuple) else value
        steps.append(entry)
    return {"name": plan.name, "conditions": list(plan.conditions), "steps": steps}


def _step_from_dict(entry: Any, where: str) -> Step:
    entry = _mapping(entry, where, "a mapping {target: MODALITY, <step fields>}")
    unknown = sorted(set(entry) - set(STEP_FIELDS))
    if unknown:
        raise ConfigError(f"plan {where} has unknown fields {unknown}; known: {sorted(STEP_FIELDS)}")
    if "target" not in entry:
        raise ConfigError(f"plan {where} names no target; give target: MODALITY")
    _check_values(entry, STEP_FIELDS, where)
    fields: dict[str, Any] = {  # values checked against STEP_FIELDS above
        k: tuple(v) if k in _TUPLE_FIELDS and isinstance(v, list) else v for k, v in entry.items()
    }
    return Step(**fields)


def plan_from_dict(data: Mapping[str, Any]) -> Plan:
    """The inverse of :func:`plan_to_dict` (a ConfigError names the key that does not fit the format)."""
    steps = _list(data["steps"], "steps", "a list of steps, each a mapping {target: MODALITY, <step fields>}")
    if not steps:
        raise ConfigError("plan steps: empty; give at least one step {target: MODALITY, <step fields>}")
    conditions = _list(data.get("conditions", []), "conditions", "a list of modality names")
    if not all(isinstance(c, str) for c in conditions):
        raise ConfigError(f"plan conditions: expected a list of modality names, got {_shown(conditions)}")
    return Plan(tuple(_step_from_dict(s, f"steps.{i}") for i, s in enumerate(steps)), tuple(conditions),
                str(data.get("name", "")))


# ---------------------------------------------------------------------------------------------
# Released settings / builder arguments
# ---------------------------------------------------------------------------------------------
def _as_list(value: Any, cast: Any, nested: bool = False) -> list[Any]:
    """A released setting value -> per-target list ("a-b" strings split at dashes, scalars wrapped);
    with ``nested`` an entry may itself be a list (multi-condition guidance weights)."""
    if value is None:
        return [None]
    if isinstance(value, str):
        return [None if v in ("None", "null", "") else cast(v) for v in value.split("-")]
    if isinstance(value, (list, tuple)):
        if not nested and any(isinstance(v, (list, tuple)) for v in value):
            raise ValueError("a list inside the list")
        return [None if v is None else [cast(w) for w in v] if isinstance(v, (list, tuple)) else cast(v)
                for v in value]
    if isinstance(value, Mapping):
        raise TypeError("a mapping where values are expected")
    return [cast(value)]


def _per_target(values: list[Any], n: int, key: str) -> list[Any]:
    if len(values) == 1:
        return values * n
    if len(values) != n:
        raise ValueError(f"released setting {key!r} has {len(values)} values for {n} targets")
    return values


def _setting(data: Mapping[str, Any], key: str, cast: Any) -> list[Any]:
    """The per-target values of released setting ``key`` (see :func:`_as_list`), naming ``key`` if one does not fit."""
    try:
        return _as_list(data.get(key), cast, nested=key == "cfg_scales")
    except (TypeError, ValueError) as err:
        raise ConfigError(f"plan {key}: {_shown(data.get(key))} is not what the released settings take ({err}); "
                          "give one value, dash-separated values or a list, one per target") from None


def plan_from_released_settings(settings: Mapping[str, Any], conditions: Sequence[str] | None = None,
                                name: str = "") -> Plan:
    """A plan from a released generation-settings file or ``build_chained_generation_schedules`` arguments.

    Args:
        settings: the mapping (keys of :data:`RELEASED_KEYS`, optionally ``sr_``-prefixed, plus
            ``top_k`` / ``top_p``); ``cond_domains`` null means "use ``conditions``".
        conditions: the given modalities when the settings do not name them.
        name: plan name (default: the settings' ``name``, unless ``auto``).
    """
    data = dict(settings)
    if "target_domains" not in data and "sr_target_domains" in data:
        data = {k.removeprefix("sr_"): v for k, v in data.items()}
    if "target_domains" not in data:
        raise ValueError(f"released settings need target_domains; got keys {sorted(data)}")
    conds = _setting(data, "cond_domains", str)
    if conds == [None]:
        if conditions is None:
            raise ValueError("the settings leave cond_domains open; pass conditions=[...]")
        conds = list(conditions)
    targets = _setting(data, "target_domains", str)
    n = len(targets)
    column = {key: _per_target(_setting(data, key, cast), n, key) for key, cast in (
        ("tokens_per_target", int), ("autoregression_schemes", str), ("decoding_steps", int),
        ("token_decoding_schedules", str), ("temps", float), ("temp_schedules", str),
        ("cfg_scales", float), ("cfg_schedules", str))}
    grow = bool(data.get("cfg_grow_conditioning", False))
    top_k, top_p = (_setting(data, key, float)[0] or 0.0 for key in ("top_k", "top_p"))
    steps, guided = [], list(conds)
    for i, target in enumerate(targets):
        scale = column["cfg_scales"][i]
        scale = 1.0 if scale is None else scale
        if isinstance(scale, (list, tuple)):  # multi-condition weights: the conditions, then finished targets
            guidance_conditions = tuple([*conds, *targets[:i]][: len(scale)])
            scale = tuple(float(w) for w in scale)
        else:
            guidance_conditions = tuple(guided)
        scheme = column["autoregression_schemes"][i]
        fields: dict[str, Any] = {
            "target": target, "scheme": scheme, "temperature": column["temps"][i] or 0.0,
            "temperature_schedule": column["temp_schedules"][i] or "constant",
            "guidance_scale": scale, "guidance_schedule": column["cfg_schedules"][i] or "constant",
            "guidance_conditions": guidance_conditions, "top_k": top_k, "top_p": top_p,
            "num_tokens": column["tokens_per_target"][i],
        }
        if scheme != AUTOREGRESSIVE:
            fields["num_steps"] = column["decoding_steps"][i]
            fields["token_schedule"] = column["token_decoding_schedules"][i] or "linear"
        steps.append(Step(**fields))
        if grow:
            guided.append(target)
    label = name or ("" if data.get("name") in (None, "auto") else str(data["name"]))
    return Plan(tuple(steps), tuple(conds), label)


# ---------------------------------------------------------------------------------------------
# Released flat schedules
# ---------------------------------------------------------------------------------------------
def _schedule_entry(item: Any, where: str) -> Mapping[str, Any]:
    """One entry of a released flat schedule, checked against :data:`SCHEDULE_FIELDS`."""
    entry = _mapping(item, where, f"a mapping with {list(SCHEDULE_FIELDS)}")
    needed = [*SCHEDULE_REQUIRED, *(() if entry.get("scheme") == AUTOREGRESSIVE else ("num_tokens",))]
    missing = [key for key in needed if entry.get(key) is None]
    if missing:
        raise ConfigError(f"plan {where} lacks {missing}; an entry of a released schedule has {list(SCHEDULE_FIELDS)}")
    _check_values(entry, SCHEDULE_FIELDS, where)
    return entry


def plan_from_schedule(schedule: Sequence[Mapping[str, Any]], conditions: Sequence[str] = (),
                       top_k: float = 0.0, top_p: float = 0.0, name: str = "") -> Plan:
    """A plan reproducing a released flat schedule iteration by iteration.

    Consecutive entries of one target become one :class:`Step` with explicit token counts,
    temperatures and guidance scales. List-valued ``cfg_scale`` entries are multi-condition weights
    over ``conditions`` followed by the targets finished before (the release ignores
    ``cfg_cond_domains`` there); scalar ones drop ``cfg_cond_domains`` in the unconditional pass.
    """
    groups: list[list[Mapping[str, Any]]] = []
    for i, item in enumerate(schedule):
        entry = _schedule_entry(item, f"schedule.{i}")
        if groups and groups[-1][0]["target_domain"] == entry["target_domain"]:
            groups[-1].append(entry)
        else:
            groups.append([entry])
    steps: list[Step] = []
    for i, group in enumerate(groups):
        head = group[0]
        target, scheme = head["target_domain"], head["scheme"]
        scales = [e.get("cfg_scale", 1.0) for e in group]
        if isinstance(scales[0], (list, tuple)):
            if any(list(s) != list(scales[0]) for s in scales):
                raise ValueError(f"{target}: multi-condition weights must be the same for every iteration")
            weights = tuple(float(w) for w in scales[0])
            finished = [g[0]["target_domain"] for g in groups[:i]]
            guidance: dict[str, Any] = {"guidance_scale": weights,
                                        "guidance_conditions": tuple([*conditions, *finished][: len(weights)])}
        else:
            guidance = {"guidance_scale": float(scales[0]), "guidance_schedule": tuple(float(s) for s in scales),
                        "guidance_conditions": tuple(head.get("cfg_cond_domains") or ())}
            if len(set(guidance["guidance_schedule"])) == 1:
                guidance["guidance_schedule"] = "constant"
        temps = tuple(float(e["temperature"]) for e in group)
        fields: dict[str, Any] = {"target": target, "scheme": scheme, "temperature": temps[0],
                                  "top_k": top_k, "top_p": top_p, **guidance}
        if scheme == AUTOREGRESSIVE:
            if len(group) != 1:
                raise ValueError(f"{target}: an autoregressive target is one schedule entry, got {len(group)}")
        else:
            fields.update(num_steps=len(group), token_schedule=tuple(int(e["num_tokens"]) for e in group),
                          temperature_schedule=temps if len(set(temps)) > 1 else "constant")
        steps.append(Step(**fields))
    return Plan(tuple(steps), tuple(conditions), name)


def plan_to_schedule(plan: Plan, totals: Mapping[str, int] | None = None) -> list[dict[str, Any]]:
    """The released flat schedule of ``plan`` (one dict per iteration)."""
    out = []
    for it in plan.iterations(totals):
        step = plan.steps[it.step]
        if it.guidance is None:
            scale: Any = 1.0
        elif it.guidance.multi:
            scale = list(it.guidance.weights)
        else:
            scale = it.guidance.weights[0]
        out.append({"target_domain": it.target, "scheme": it.scheme, "num_tokens": it.num_select,
                    "temperature": it.temperature, "cfg_scale": scale,
                    "cfg_cond_domains": list(step.guidance_conditions)})
    return out


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------
def plan_from_mapping(data: Any, conditions: Sequence[str] | None = None, name: str = "") -> Plan:
    """A plan from any supported format (see the module docstring)."""
    if isinstance(data, list) and data:
        return plan_from_schedule(data, conditions or (), name=name)
    if not isinstance(data, Mapping):
        raise ConfigError(f"a plan is a mapping {{steps: [...]}}, released settings {{target_domains: ...}} or a "
                          f"non-empty released schedule list; got {_shown(data)}")
    if "steps" in data:
        return plan_from_dict(data)
    if "target_domains" in data or "sr_target_domains" in data:
        return plan_from_released_settings(data, conditions, name)
    raise ConfigError(f"not a plan: expected 'steps', 'target_domains' or a schedule list; got keys {sorted(data)}")


def load_plan(path: str | Path, conditions: Sequence[str] | None = None) -> Plan:
    """Read a plan file (``.yaml`` / ``.yml`` / ``.json``) in any supported format."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no plan file at {path}")
    text = path.read_text()
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise ConfigError(f"plan file {path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: "
                          f"{' '.join(str(err).split())}") from None
    return plan_from_mapping(data, conditions, name=path.stem)


def save_plan(plan: Plan, path: str | Path) -> Path:
    """Write ``plan`` in our format (JSON for ``.json``, YAML otherwise)."""
    path = Path(path)
    data = plan_to_dict(plan)
    path.write_text(json.dumps(data, indent=2) + "\n" if path.suffix == ".json"
                    else yaml.safe_dump(data, sort_keys=False))
    return path
