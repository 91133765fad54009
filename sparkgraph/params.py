"""Parameter objects validated in one place: types and ranges, with messages that name the key.

In the spirit of scikit-learn's parameter constraints: a field declares what it accepts with
:func:`param`, and :func:`validate` (called from ``__post_init__``) checks every field's type
from its annotation and then its constraints. A message names the parameter, the bad value and
what to give instead, e.g. ``top_k='10' is not an integer; give a whole number such as 100``.
Jobs prefix the key with its section (``ppr.top_k``), so the message names what the user wrote.

Example:
    >>> @dataclass(frozen=True)
    ... class Params:
    ...     k: int = param(10, at_least(1))
    ...     def __post_init__(self): validate(self)
    >>> Params(k=0)
    Traceback (most recent call last):
    ParameterError: k=0 must be at least 1
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any

from sparkgraph.errors import ParameterError

Check = Callable[[str, Any], None]


def param(default: Any, *checks: Check) -> Any:
    """A dataclass field with a default and the checks its value must pass."""
    return dataclasses.field(default=default, metadata={"checks": checks})


def at_least(low: float) -> Check:
    def check(name: str, value: Any) -> None:
        if value is not None and value < low:
            raise ParameterError(f"{name}={value!r} must be at least {low}", key=name)
    return check


def at_most(high: float) -> Check:
    def check(name: str, value: Any) -> None:
        if value is not None and value > high:
            raise ParameterError(f"{name}={value!r} must be at most {high}", key=name)
    return check


def between(low: float, high: float, low_open: bool = False, high_open: bool = False, hint: str = "") -> Check:
    def check(name: str, value: Any) -> None:
        if value is None:
            return
        too_low = value <= low if low_open else value < low
        too_high = value >= high if high_open else value > high
        if too_low or too_high:
            interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
            raise ParameterError(f"{name}={value!r} must be in {interval}{'; ' + hint if hint else ''}", key=name)
    return check


def one_of(*allowed: str) -> Check:
    def check(name: str, value: Any) -> None:
        if value is not None and value not in allowed:
            raise ParameterError(f"{name}={value!r} is not known; use one of {', '.join(allowed)}", key=name)
    return check


TYPE_WORDS = {int: ("an integer", "a whole number such as 100"), float: ("a number", "a number such as 0.15"),
               bool: ("true or false", "true or false"), str: ("a string", "a text value")}


def _optional(tp: Any) -> tuple[Any, bool]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in typing.get_args(tp):
        return next(a for a in typing.get_args(tp) if a is not type(None)), True
    return tp, False


def checked_type(name: str, value: Any, annotation: Any) -> Any:
    """``value`` if it fits ``annotation`` (ints are accepted as floats), else a ParameterError."""
    tp, optional = _optional(annotation)
    if value is None:
        if optional:
            return None
        raise ParameterError(f"{name} is None; give {TYPE_WORDS.get(tp, ('a value',))[0]}", key=name)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    ok = isinstance(value, tp) and not (tp in (int, float) and isinstance(value, bool)) if tp in TYPE_WORDS else True
    if not ok:
        what, example = TYPE_WORDS[tp]
        raise ParameterError(f"{name}={value!r} is not {what}; give {example}", key=name)
    if tp is float and not math.isfinite(value):
        raise ParameterError(f"{name}={value!r} is not a finite number; give a number such as 0.15", key=name)
    return value


def validate(obj: Any) -> None:
    """Check every field of the dataclass ``obj``: its type from the annotation, then its checks."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = checked_type(f.name, getattr(obj, f.name), hints[f.name])
        object.__setattr__(obj, f.name, value)  # ints given for floats become floats
        for check in f.metadata.get("checks", ()):
            check(f.name, value)


def check_choice(name: str, value: Any, allowed: Sequence[str]) -> None:
    """The one-line error for a value outside ``allowed`` (for checks outside a dataclass)."""
    one_of(*allowed)(name, value)
