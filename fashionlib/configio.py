"""Typed configs: build a dataclass from a mapping (YAML, JSON, ``key=value`` overrides), checking every value.

One rule for every config in the package (detector, crops, GAN, profile): the
dataclass's type hints are the schema. A value of the wrong type is refused at
load time with one line naming the source (a file), the key, the expected type
and the value found, e.g.::

    configs/x.yaml: solver.momentum: expected float, found 'high' (str)

Conversions are deliberate and few: an int where a float is expected; a string
that reads as a number where a float is expected, because YAML 1.1 (PyYAML)
reads ``1e-3`` (no dot) as a string; a list where a tuple is expected (YAML has
no tuples); a string where a path is expected. Nothing else is coerced: ``"yes"``
is not a bool and ``1.5`` is not an int.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """Raised for an unknown key, a missing key or a value of the wrong type in a config (one line)."""


def validate(cls: type[T], mapping: Mapping[str, Any] | None, *, source: str = "config", prefix: str = "") -> T:
    """Return ``cls(**mapping)`` with every value checked against the dataclass's type hints (nested too).

    Keys left out take the dataclass defaults; unknown keys, missing required keys and values of the wrong
    type raise :class:`ConfigError` naming ``source`` and the dotted key (``prefix`` is prepended to it).
    """
    if mapping is None:
        mapping = {}
    if not isinstance(mapping, Mapping):
        where = prefix.rstrip(".") or "the top level"
        raise ConfigError(f"{source}: {where}: expected a mapping of key: value, found {_show(mapping)}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in mapping if k not in known]
    if unknown:
        raise ConfigError(f"{source}: unknown key {prefix}{unknown[0]}; known keys: {', '.join(sorted(known))}")
    values = {}
    for name, f in known.items():
        if name in mapping:
            values[name] = _convert(mapping[name], hints[name], f"{prefix}{name}", source)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{source}: missing key {prefix}{name} ({_name(hints[name])})")
    return cls(**values)


def check_types(obj: Any, *, source: str | None = None) -> None:
    """Raise :class:`ConfigError` if a field of the dataclass instance ``obj`` does not have its declared type."""
    source = source or type(obj).__name__
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        converted = _convert(value, hints[f.name], f.name, source)
        # Conversions are for files; in Python only int -> float and list <-> tuple pass as they are.
        if type(converted) is not type(value) and not (isinstance(converted, float) and type(value) is int) \
                and not (isinstance(value, (list, tuple)) and isinstance(converted, (list, tuple))):
            raise ConfigError(f"{source}: {f.name}: expected {_name(hints[f.name])}, found {_show(value)}")


def parse_overrides(items: Sequence[str], *, source: str = "command line") -> dict[str, Any]:
    """Return a nested mapping from ``section.key=value`` strings (values read as YAML: 0.01, true, [1, 2], null)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigError(f"{source}: {item!r}: expected section.key=value, e.g. solver.base_lr=0.01")
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source}: {key}: cannot read {text!r} as a value ({exc.problem})") from None
        *parents, last = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{source}: {item!r} sets a key inside {part}, which was given a value")
        node[last] = value
    return out


def merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``base`` with ``update`` merged in, mapping by mapping (update wins on plain values)."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def load_yaml_mapping(path: str | Path, text: str | None = None) -> dict[str, Any]:
    """Return the top-level mapping of a YAML file (a YAML syntax error names the file and line)."""
    try:
        raw = yaml.safe_load(text if text is not None else Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of key: value at the top level, found {_show(raw)}")
    return raw


def _convert(value: Any, hint: Any, key: str, source: str) -> Any:
    """Return ``value`` checked (and converted as the module docstring says) against the type ``hint``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _convert(value, option, key, source)
            except ConfigError as exc:
                errors.append(exc)
        raise ConfigError(f"{source}: {key}: expected {_name(hint)}, found {_show(value)}")
    if origin is typing.Literal:
        if value in args:
            return value
        raise ConfigError(f"{source}: {key}: expected one of {', '.join(map(repr, args))}, found {_show(value)}")
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        return validate(hint, value, source=source, prefix=f"{key}.")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{source}: {key}: expected {_name(hint)}, found {_show(value)}")
        item_hints = [args[0]] * len(value) if origin is list or (len(args) == 2 and args[1] is Ellipsis) else list(args)
        if origin is tuple and len(item_hints) != len(value):
            raise ConfigError(f"{source}: {key}: expected {_name(hint)}, found {_show(value)}")
        items = [_convert(v, h, f"{key}[{i}]", source) for i, (v, h) in enumerate(zip(value, item_hints))]
        return items if origin is list else tuple(items)
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
    elif isinstance(hint, type) and isinstance(value, hint):
        return value
    raise ConfigError(f"{source}: {key}: expected {_name(hint)}, found {_show(value)}")


def _name(hint: Any) -> str:
    """Return a type as a reader writes it: float, int | None, list[int], tuple[str, ...]."""
    if isinstance(hint, type) and not typing.get_args(hint):
        return hint.__name__
    return str(hint).replace("typing.", "").replace("NoneType", "None").replace("pathlib.", "")


def _show(value: Any) -> str:
    """Return the value found and its YAML/Python type, e.g. ``'1e-3x' (str)``."""
    text = repr(value)
    return f"{text if len(text) <= 60 else text[:57] + '...'} ({type(value).__name__})"
