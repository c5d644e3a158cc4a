"""Frozen-dataclass configs <-> plain dicts, YAML and `key=value` overrides.

Each concern keeps its own `@dataclass(frozen=True)` config beside the code that uses
it and validates itself in `__post_init__`. This module only moves values in and out:

- `config_to_dict(cfg)` gives the JSON/YAML-ready nested dict saved with every run;
- `config_from_dict(cls, data)` builds a config from a nested dict, rejecting unknown
  keys and coercing scalar types from the field annotations;
- `parse_overrides(["a.b=1", ("beta", 0.4)], aliases)` turns overrides into a nested dict,
  resolving short aliases: a command-line `key=value`'s value is parsed as a YAML scalar, a
  `(key, value)` pair from code (a sweep trial's values) is taken as it is;
- `merge(base, update)` deep-merges nested dicts (update wins);
- `check_range`, `check_choice`, `check_flag`, `check_text`, `check_fractions`: the checkers every
  `__post_init__` uses, one wording for every config ("<field> must be <what>, got <value>");
- `from_preset(cls, presets, name, *layers)`: the one preset mechanism (a named dict of defaults,
  then YAML and overrides on top, then `config_from_dict`).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import yaml

from rcml_core.errors import ConfigError

T = TypeVar("T")


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """Nested plain dict of a (nested) dataclass config; tuples become lists, paths strings."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, Path):
            return str(value)
        return value

    return plain(cfg)


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Coerce a YAML/override value to a field's annotated type, or raise ConfigError."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: must be one of {list(args)}, got {value!r}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)}")
            return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        inner = args[0] if args else Any
        out = [_coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if dataclasses.is_dataclass(annotation):
        if isinstance(value, annotation):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping of {annotation.__name__} fields, got {value!r}")
        return config_from_dict(annotation, value, where)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        try:
            as_float = float(value)
        except ValueError:
            raise ConfigError(f"{where}: expected an integer, got {value!r}") from None
        if not as_float.is_integer():
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return int(as_float)
    if annotation is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if annotation is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return str(value)
    return value


def config_from_dict(cls: type[T], data: Mapping[str, Any], where: str = "") -> T:
    """Build dataclass `cls` from a nested mapping; unknown keys are errors naming the path."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        scope = where or "config"
        raise ConfigError(f"{scope}: unknown key(s) {unknown}; known keys: {sorted(fields)}")
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(value, hints[name], f"{where + '.' if where else ''}{name}")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{where or cls.__name__}: {exc}") from None


def merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge of nested dicts; values of `update` win."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _set_path(tree: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = tree
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {dotted!r}: {part!r} is not a section")
        node = child
    node[parts[-1]] = value


Override = str | tuple[str, Any]  # "key=value" as typed on a command line, or (key, typed value)


def parse_overrides(overrides: Sequence[Override], aliases: Mapping[str, str] | None = None) -> dict[str, Any]:
    """`["beta=0.4", ("optim.lr", 1e-4)]` -> nested dict. A string's value is parsed as a YAML scalar; a pair's
    value is used as it is.

    `aliases` maps short keys a user types (`beta`) to their dotted path (`model.beta`).
    Keys are not checked here; `config_from_dict` rejects unknown ones.
    """
    aliases = aliases or {}
    tree: dict[str, Any] = {}
    for item in overrides:
        if isinstance(item, tuple):
            _set_path(tree, aliases.get(item[0], item[0]), item[1])
            continue
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key:
            raise ConfigError(f"override {item!r} has an empty key")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        _set_path(tree, aliases.get(key, key), value)
    return tree


def load_yaml(path: Path | str) -> dict[str, Any]:
    """A YAML config file as a dict; a clear error when missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return data


# -- the checkers every config's __post_init__ uses ---------------------------------------------------
# One wording everywhere: "<section.field> must be <what>, got <value>", the field named as a user types it.


def _bounds(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low}"
    return f"{'<' if high_open else '<='} {high}" if high is not None else "finite"


def check_range(name: str, value: Any, low: float | None = None, high: float | None = None,
                low_open: bool = False, high_open: bool = False, *, integer: bool = False, note: str = "") -> None:
    """ConfigError unless `value` is a finite number (an integer with `integer`, never a bool) within the bounds;
    the message names the field, the allowed range and `note`: "train.epochs must be an integer >= 0, got -1"."""
    if integer:
        ok_type = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    else:
        ok_type = (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
                   and math.isfinite(value))
    ok = ok_type and (low is None or (value > low if low_open else value >= low)) and \
        (high is None or (value < high if high_open else value <= high))
    if not ok:
        kind = "an integer " if integer else "" if ok_type else "a number "
        why = f" ({note})" if note else ""
        raise ConfigError(f"{name} must be {kind}{_bounds(low, high, low_open, high_open)}{why}, got {value!r}")


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {tuple(choices)}, got {value!r}")


def check_flag(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, got {value!r}")


def check_text(name: str, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{name} must be a non-empty string, got {value!r}")


def check_fractions(name: str, value: Any) -> tuple[float, float, float]:
    """The (train, val, test) split fractions as floats: three numbers in (0, 1) summing to 1."""
    if (not isinstance(value, (tuple, list)) or len(value) != 3
            or not all(isinstance(f, (int, float)) and not isinstance(f, bool) and 0 < f < 1 for f in value)
            or not math.isclose(sum(value), 1.0, abs_tol=1e-6)):
        raise ConfigError(f"{name} must be three numbers in (0, 1) (train, val, test) summing to 1, got {value!r}")
    return tuple(float(f) for f in value)  # type: ignore[return-value]


# -- presets -----------------------------------------------------------------------------------------


def from_preset(cls: type[T], presets: Mapping[str, Mapping[str, Any]], preset: str, *layers: Mapping[str, Any],
                what: str = "preset", where: str = "") -> T:
    """`cls` built from `presets[preset]` with each of `layers` merged on top (nested dicts, the last wins):
    the one way a config gets its presets. An unknown preset, an unknown key or a bad value is a ConfigError
    naming it; keys are checked and values coerced by `config_from_dict`."""
    if preset not in presets:
        raise ConfigError(f"{what} must be one of {list(presets)}, got {preset!r}")
    tree: dict[str, Any] = dict(presets[preset])
    for layer in layers:
        tree = merge(tree, layer)
    return config_from_dict(cls, tree, where)
