"""Typed configuration trees: dataclasses, dotted overrides, JSON round-trips.

Every run in omnimask is described by a tree of ``@dataclass(kw_only=True)`` objects. Named runs are
functions in :mod:`omnimask.recipes` that return such a tree; the CLI applies ``--set a.b=value``
overrides with :func:`apply_overrides`, which parses each value against the field's annotated type
and refuses unknown keys or ill-typed values with an error that names the key and the allowed ones.
The resolved tree is written as ``config.json`` beside every output (:func:`save_config`).

A config class whose layout changed may define a static ``upgrade_dict(data) -> dict`` that turns
the dict form of an older layout into the current one; :func:`from_dict` applies it first, so files
written before the change still load (e.g. :meth:`omnimask.model.ModelConfig.upgrade_dict`).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration key or value that cannot be accepted; the message says what to do instead."""


def _field_types(cls: type) -> dict[str, Any]:
    hints = get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def _is_optional(tp: Any) -> tuple[bool, Any]:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) < len(get_args(tp)):
            return True, args[0] if len(args) == 1 else Union[tuple(args)]  # noqa: UP007
    return False, tp


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Convert ``value`` (parsed JSON or a raw string) to the annotated type ``tp``."""
    if tp is Any:
        return value
    optional, inner = _is_optional(tp)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{key}: None is not allowed (expected {_type_name(tp)})")
    if optional and isinstance(value, str) and value.lower() in ("none", "null"):
        return None  # only an optional field reads the words as None; a Literal may mean the string
    tp = inner
    origin = get_origin(tp)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):  # an annotation: a class, never an instance
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping for {tp.__name__}, got {value!r}")
        return from_dict(tp, value, prefix=key)
    if origin is typing.Literal:
        allowed = get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{key}: {value!r} is not one of {list(allowed)}")
        return value
    if origin in (list, tuple) or tp in (list, tuple):
        if isinstance(value, str):
            value = _parse_scalar(value)
            if isinstance(value, str):
                value = [v for v in value.split(",") if v] if value else []
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{key}: expected {len(args)} values, got {len(value)}")
            return tuple(_coerce(v, a, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        item = args[0] if args else Any
        items = [_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if (origin is tuple or tp is tuple) else items
    if origin is dict or tp is dict:
        if isinstance(value, str):
            value = json.loads(value)
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        kt, vt = get_args(tp) or (Any, Any)
        return {_coerce(k, kt, key): _coerce(v, vt, f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
            return value.lower() in ("true", "1", "yes", "on")
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                try:
                    number = float(value)  # "1e6" is a fine way to write a step budget
                except ValueError:
                    number = None
                if number is not None and number.is_integer():
                    return int(number)
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if tp is str:
        return str(value)
    if tp is Path:
        return Path(value)
    raise ConfigError(f"{key}: unsupported config type {_type_name(tp)}")


def _parse_scalar(text: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, ValueError):
        return text


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def from_dict(cls: type[T], data: Mapping[str, Any], prefix: str = "") -> T:
    """Build dataclass ``cls`` from a (JSON-like) mapping, checking every key and value."""
    upgrade = getattr(cls, "upgrade_dict", None)
    if upgrade is not None:
        data = upgrade(data)
    types_ = _field_types(cls)
    unknown = sorted(set(data) - set(types_))
    if unknown:
        where = f" in {prefix}" if prefix else ""
        raise ConfigError(f"unknown key(s) {unknown}{where}; allowed: {sorted(types_)}")
    kwargs = {
        name: _coerce(value, types_[name], f"{prefix}.{name}" if prefix else name)
        for name, value in data.items()
    }
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as err:  # e.g. a nested plain dataclass refusing a value
        raise ConfigError(f"{prefix or cls.__name__}: {err}") from err


def to_dict(cfg: Any) -> Any:
    """The JSON-ready form of a config tree (dataclasses become dicts, paths strings, tuples lists)."""
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        return {f.name: to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, (list, tuple)):
        return [to_dict(v) for v in cfg]
    if isinstance(cfg, Mapping):
        return {str(k): to_dict(v) for k, v in cfg.items()}
    if isinstance(cfg, Path):
        return str(cfg)
    return cfg


def _set_field(data: dict[str, Any], cls: type, parts: list[str], raw: Any, dotted: str) -> None:
    """Write the parsed ``raw`` at ``parts`` into ``data`` (the dict form of a ``cls``), type-checked."""
    head, rest = parts[0], parts[1:]
    types_ = _field_types(cls)
    if head not in types_:
        raise ConfigError(f"unknown key {dotted!r}: {cls.__name__} has {sorted(types_)}")
    _, inner = _is_optional(types_[head])
    if rest:
        if not (isinstance(inner, type) and dataclasses.is_dataclass(inner)) or not isinstance(data.get(head), dict):
            raise ConfigError(f"{head} is not a config section, so {dotted!r} cannot be set")
        _set_field(data[head], inner, rest, raw, dotted)
        return
    parsed = _parse_scalar(raw) if isinstance(raw, str) else raw
    if inner is str and not isinstance(parsed, str) and parsed is not None:
        parsed = raw  # a string field takes the literal text, e.g. "007"
    data[head] = to_dict(_coerce(parsed, types_[head], dotted))


def apply_overrides(cfg: T, assignments: Iterable[str]) -> T:
    """A copy of ``cfg`` with ``dotted.key=value`` assignments applied (values parsed as JSON when possible).

    Each value is checked against its field's type as it is read; the whole tree is validated once at
    the end, so overrides that only make sense together (``data.source=store`` + ``data.path=...``)
    can be given in any order.
    """
    data = to_dict(cfg)
    for assignment in assignments:
        key, sep, value = assignment.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {assignment!r} must look like dotted.key=value")
        _set_field(data, type(cfg), key.strip().split("."), value.strip(), key.strip())
    return from_dict(type(cfg), data)


def save_config(cfg: Any, path: str | Path) -> Path:
    """Write ``cfg`` as indented JSON (atomically: temporary name, then rename)."""
    from omnimask.files import write_json

    return write_json(path, to_dict(cfg))


def read_json(path: str | Path) -> Any:
    """The value in the JSON file at ``path``.

    Raises:
        ConfigError: the file is not JSON (or not UTF-8); the message names it.
    """
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:  # JSONDecodeError, UnicodeDecodeError
        raise ConfigError(f"{path} is not valid JSON ({' '.join(str(err).split())}); fix it or copy the file "
                          "again from where it came") from None


def load_config(cls: type[T], path: str | Path) -> T:
    """Read a ``config.json`` written by :func:`save_config` back into ``cls``."""
    return from_dict(cls, read_json(path))
