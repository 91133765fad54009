"""Job configuration: library defaults < YAML file < command-line flags.

A job's configuration is a frozen dataclass whose fields are values or nested dataclasses
(sections). Every leaf has a dotted key (``graph.directed``, ``output.mode``) used in YAML
(as nesting) and on the command line (``--graph.directed false`` or ``--set graph.directed=false``).
Values from flags are parsed as YAML scalars, then checked against the field's type.
Unknown keys are errors that name the nearest valid key. The meaning of each key is read
from the ``Attributes:`` section of its dataclass's docstring, so it is written once.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from dataclasses import dataclass
from typing import Any

import yaml

from sparkgraph.errors import ConfigError, ParameterError
from sparkgraph.params import TYPE_WORDS


@dataclass(frozen=True)
class Key:
    """One configurable leaf: its dotted name, type, default and meaning."""

    name: str
    type: Any
    default: Any
    help: str


def _attribute_help(cls: type) -> dict[str, str]:
    """Parse ``Attributes:`` of a Google-style docstring into ``{name: text}``."""
    doc = cls.__doc__ or ""
    if "Attributes:" not in doc:
        return {}
    body = doc.split("Attributes:", 1)[1]
    helps: dict[str, str] = {}
    current: list[str] = []
    for line in body.splitlines():
        match = re.match(r"^\s{4,8}([\w, ]+):\s*(.*)$", line)
        if match and not line.startswith(" " * 12):
            current = [n.strip() for n in match.group(1).split(",")]
            for name in current:
                helps[name] = match.group(2).strip()
        elif line.strip() and current:
            for name in current:
                helps[name] += " " + line.strip()
        elif not line.strip() and current:
            continue
    return helps


def _default_of(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def keys_of(cls: type, prefix: str = "", defaults: Any = None) -> dict[str, Key]:
    """Every leaf key of a configuration dataclass, in declaration order.

    A section's defaults come from the enclosing field's default (a job may default
    ``output.path`` differently from the section class itself).
    """
    hints = typing.get_type_hints(cls)
    helps = _attribute_help(cls)
    out: dict[str, Key] = {}
    for f in dataclasses.fields(cls):
        name = f"{prefix}{f.name}"
        ftype = hints[f.name]
        default = getattr(defaults, f.name) if defaults is not None else _default_of(f)
        if dataclasses.is_dataclass(ftype):
            out.update(keys_of(ftype, name + ".", default if default is not dataclasses.MISSING else None))
            continue
        out[name] = Key(name, ftype, default, f.metadata.get("help") or helps.get(f.name, ""))
    return out


def type_name(tp: Any) -> str:
    args = typing.get_args(tp)
    if _is_optional(tp):
        inner = [a for a in args if a is not type(None)][0]
        return f"{type_name(inner)} or null"
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in args)
    if origin is not None:
        return getattr(origin, "__name__", str(origin))
    return getattr(tp, "__name__", str(tp))


def _is_optional(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in typing.get_args(tp)


def coerce(key: Key, value: Any, from_text: bool = False) -> Any:
    """Check (and, for flag text, parse) a value for ``key``; raises ConfigError if it does not fit."""
    raw = value
    if from_text and isinstance(value, str):
        try:
            value = yaml.safe_load(value) if value != "" else ""
        except yaml.YAMLError:
            value = raw
    tp = key.type
    if _is_optional(tp):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            return None
        tp = [a for a in typing.get_args(tp) if a is not type(None)][0]
    origin = typing.get_origin(tp) or tp
    ok = True
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif tp is str:
        if from_text and not isinstance(value, str):
            value = str(raw)
        ok = isinstance(value, str)
    elif origin in (list, tuple):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        ok = isinstance(value, (list, tuple))
        value = tuple(value) if origin is tuple and ok else value
    elif origin is dict:
        ok = isinstance(value, dict)
    if not ok:
        what, example = TYPE_WORDS.get(tp, (f"a {type_name(tp)}", f"a {type_name(tp)} value"))
        null = " or null" if _is_optional(key.type) else ""
        raise ConfigError(f"{key.name}={value!r} is not {what}{null}; give {example}")
    return value


def _unknown(name: str, known: list[str]) -> ConfigError:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}?" if close else f"valid keys: {', '.join(known)}"
    return ConfigError(f"unknown configuration key {name!r}; {hint}")


def flatten(mapping: dict[str, Any], prefix: str = "", dict_keys: frozenset[str] = frozenset()) -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; mappings under ``dict_keys`` stay whole."""
    out: dict[str, Any] = {}
    for k, v in mapping.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict) and name not in dict_keys:
            out.update(flatten(v, name + ".", dict_keys))
        else:
            out[name] = v
    return out


def build(cls: type, values: dict[str, Any], prefix: str = "", defaults: Any = None) -> Any:
    """Instantiate a (nested) configuration dataclass from flat dotted ``values``."""
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        name = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(hints[f.name]):
            section = getattr(defaults, f.name) if defaults is not None else _default_of(f)
            section = None if section is dataclasses.MISSING else section
            kwargs[f.name] = build(hints[f.name], values, name + ".", section)
        elif name in values:
            kwargs[f.name] = values[name]
    try:
        if defaults is not None:
            return dataclasses.replace(defaults, **kwargs)
        return cls(**kwargs)
    except ParameterError as exc:  # name the key as the user wrote it: ppr.top_k, not top_k
        raise exc.within(prefix) from None
    except TypeError as exc:
        raise ConfigError(f"{prefix.rstrip('.') or cls.__name__}: {exc}; set the missing keys") from exc


def load_config(cls: type, yaml_path: str | None = None, overrides: dict[str, str] | None = None) -> Any:
    """Load a job configuration with precedence defaults < YAML < overrides.

    Args:
        cls: The configuration dataclass.
        yaml_path: Optional YAML file with (a subset of) the keys, nested by section.
        overrides: ``{dotted key: text}`` from the command line.

    Returns:
        An instance of ``cls``.

    Raises:
        ConfigError: For unknown keys (with the nearest valid one) and values of the wrong type.

    Example:
        >>> cfg = load_config(StatsConfig, "conf/stats.yaml", {"graph.directed": "false"})
    """
    keys = keys_of(cls)
    dict_keys = frozenset(k for k, key in keys.items() if typing.get_origin(key.type) is dict or key.type is dict)
    values: dict[str, Any] = {}
    if yaml_path:
        try:
            with open(yaml_path) as handle:
                loaded = yaml.safe_load(handle) or {}
        except OSError as exc:
            raise ConfigError(f"cannot read config file {yaml_path!r}: {exc.strerror}; check the path") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ConfigError(f"config file {yaml_path!r} is not valid YAML{where}: {problem}; fix the file") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{yaml_path} must hold a mapping of sections and keys")
        for name, value in flatten(loaded, dict_keys=dict_keys).items():
            if name not in keys:
                raise _unknown(name, list(keys))
            values[name] = coerce(keys[name], value)
    for name, text in (overrides or {}).items():
        if name not in keys:
            raise _unknown(name, list(keys))
        values[name] = coerce(keys[name], text, from_text=True)
    return build(cls, values)


def to_dict(config: Any) -> dict[str, Any]:
    """A configuration as nested plain data (for manifests and logs)."""
    return dataclasses.asdict(config)
