"""Typed YAML configs: nested dataclasses built from a file, rejecting unknown keys with the closest valid name."""
from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from pathlib import Path

import yaml

from perception.errors import DataError


class ConfigError(DataError):
    """A config file that does not match its schema; names the file and the key path."""


def _describe(tp) -> str:
    return getattr(tp, "__name__", str(tp))


def _convert(value, tp, where: str, source: str):
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, source, where)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return _convert(value, option, where, source)
            except ConfigError as error:
                errors.append(error.reason)
        raise ConfigError(f"'{where}': {errors[0]}", source)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"'{where}': expected a list, got {value!r}", source)
        args = typing.get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"'{where}': expected {len(args)} values, got {len(value)}", source)
            return tuple(_convert(v, a, f"{where}[{i}]", source) for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else typing.Any
        converted = [_convert(v, item, f"{where}[{i}]", source) for i, v in enumerate(value)]
        return tuple(converted) if origin is tuple else converted
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"'{where}': expected a number, got {value!r}", source)
        return float(value)
    if tp in (int, bool, str):
        if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
            raise ConfigError(f"'{where}': expected {_describe(tp)}, got {value!r}", source)
        return value
    if typing.get_origin(tp) is typing.Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(f"'{where}': expected one of {list(typing.get_args(tp))}, got {value!r}", source)
        return value
    return value


def from_dict(cls, data, source: str = "<config>", where: str = ""):
    """Build dataclass ``cls`` from a mapping; every field must be given, unknown keys are rejected."""
    if not isinstance(data, dict):
        raise ConfigError(f"'{where or cls.__name__}': expected a mapping, got {data!r}", source)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(str(key), fields, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; valid keys: {', '.join(fields)}"
            raise ConfigError(f"unknown key '{where + '.' if where else ''}{key}'{hint}", source)
    values = {}
    for name, f in fields.items():
        path = f"{where}.{name}" if where else name
        if name not in data:
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
                continue
            raise ConfigError(f"missing key '{path}'", source)
        values[name] = _convert(data[name], hints[name], path, source)
    try:
        return cls(**values)
    except ValueError as error:  # a dataclass's own __post_init__ check
        raise ConfigError(_post_init_message(cls, where, str(error)), source) from None


def _post_init_message(cls, where: str, message: str) -> str:
    """A dataclass's own check as a line naming the key: a message that starts with one of its fields
    (``"depth_bins: step must be > 0"`` from the ``camera`` section) gets the section's path in front
    (``"camera.depth_bins: step must be > 0"``); any other is put after the section's name."""
    first_word = re.split(r"[\s:.\[]", message, maxsplit=1)[0]
    if first_word in {f.name for f in dataclasses.fields(cls)}:
        return f"{where}.{message}" if where else message
    return f"'{where or cls.__name__}': {message}"


def to_dict(config) -> dict:
    """Plain data (lists for tuples) to write back as YAML or JSON."""
    def plain(value):
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value
    return plain(dataclasses.asdict(config))


def load_yaml_config(cls, path: str | Path, section: str | None = None, ignore: tuple[str, ...] = ()):
    """Build ``cls`` from a YAML file: from its top-level ``section`` when given, else from the whole file less the
    top-level keys in ``ignore`` (sections another dataclass reads)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError("config file does not exist", path) from None
    except IsADirectoryError:
        raise ConfigError("config path is a folder, not a YAML file", path) from None
    except yaml.YAMLError as error:
        raise ConfigError(f"not valid YAML ({error})", path) from None
    if not isinstance(data, dict):
        raise ConfigError(f"expected a mapping of config sections, got {type(data).__name__}", path)
    if section is not None:
        if section not in data:
            raise ConfigError(f"missing section '{section}'", path)
        return from_dict(cls, data[section], str(path), section)
    return from_dict(cls, {k: v for k, v in data.items() if k not in ignore}, str(path))
