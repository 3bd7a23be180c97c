"""Checking a config value against a Python annotation, for one-line type errors.

Only annotations a TOML value can meet are checked (``int``, ``float``, ``str``, ``bool``,
``list[...]``, ``tuple[...]``, ``dict``, ``Sequence``, ``Mapping``, unions and ``Literal``);
another class (``Tensor``, ``nn.Module``) accepts only its instances, which a TOML value never is;
anything else (a type variable, a callable, a protocol) is accepted as it is.
"""

from __future__ import annotations

import collections.abc as cabc
import types
import typing
from typing import Any

from customrun_core.errors import describe

_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", dict: "a table"}


def _origin(hint: Any) -> Any:
    return typing.get_origin(hint) or hint


def expected(hint: Any) -> str | None:
    """How an error message names what ``hint`` accepts; None when the hint is not checked."""
    origin = _origin(hint)
    if origin in (typing.Union, types.UnionType):
        parts = [expected(a) for a in typing.get_args(hint) if a is not type(None)]
        if any(p is None for p in parts):
            return None
        return " or ".join(dict.fromkeys(p for p in parts if p))
    if origin is typing.Literal:
        choices = typing.get_args(hint)
        return repr(choices[0]) if len(choices) == 1 else "one of " + ", ".join(repr(a) for a in choices)
    if origin in _NAMES:
        return _NAMES[origin]
    if origin in (list, tuple, cabc.Sequence):
        return _array(hint)
    if origin is cabc.Mapping:
        return "a table"
    if isinstance(origin, type):
        return f"a {origin.__name__}"
    return None


def _array(hint: Any) -> str:
    """``an array``, said more precisely where the items' kind is plain: ``an array of integers``,
    ``an array of 2 numbers``."""
    args = [a for a in typing.get_args(hint) if a is not Ellipsis]
    kinds = {expected(a) for a in args}
    if len(kinds) != 1:
        return "an array"
    kind = kinds.pop()
    if kind is None or kind not in _NAMES.values():
        return "an array"
    plural = kind.split(" ", 1)[1] + "s"  # "an integer" -> "integers"
    fixed = _origin(hint) is tuple and Ellipsis not in typing.get_args(hint)
    return f"an array of {len(args)} {plural}" if fixed else f"an array of {plural}"


def matches(value: Any, hint: Any) -> bool:
    """Whether ``value`` (from TOML) fits ``hint``; unknown kinds of hint always fit."""
    origin = _origin(hint)
    if hint is Any or origin is typing.Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, a) for a in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin is bool:
        return isinstance(value, bool)
    if origin is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if origin is str:
        return isinstance(value, str)
    if origin in (dict, cabc.Mapping):
        return isinstance(value, dict)
    if origin in (list, tuple, cabc.Sequence):
        if not isinstance(value, list | tuple):
            return False
        args = typing.get_args(hint)
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(args) == len(value) and all(map(matches, value, args))
        return not args or all(matches(v, args[0]) for v in value)
    if isinstance(origin, type) and origin is not object:
        return isinstance(value, origin)  # a TOML value is never a Tensor, a Module, ...
    return True


def check(value: Any, hint: Any) -> str | None:
    """None when ``value`` fits ``hint``, else the message ``expected X, got Y``."""
    if matches(value, hint):
        return None
    want = expected(hint)
    if want is None:
        return None
    return f"expected {want}, got {describe(value)}"


def is_number(value: Any) -> bool:
    """Whether ``value`` is a TOML integer or float (a boolean is neither)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_minimum(value: Any, minimum: float, what: str = "a number", exclusive: bool = False) -> str | None:
    """None when the number ``value`` is at least ``minimum`` (above it when ``exclusive``), else
    the message ``expected a number >= 0, got -0.1``. A value that is not a number passes: its
    type is checked apart."""
    if not is_number(value) or (value > minimum if exclusive else value >= minimum):
        return None
    return f"expected {what} {'>' if exclusive else '>='} {minimum:g}, got {value}"
