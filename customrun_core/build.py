"""Building a component from its config table: resolve ``type``, check arguments, instantiate.

Arguments are checked against the component's signature before it is called, so that a misspelt
argument or a wrong type is a one-line error naming the key path, not a ``TypeError`` from deep
inside a constructor. Errors raised by nested builds carry their key path relative to the
table being built; each level prefixes its own key.
"""

from __future__ import annotations

import copy
import inspect
import typing
from collections.abc import Mapping
from typing import Any

from customrun_core import registry
from customrun_core.config import types
from customrun_core.errors import ConfigError, closest, describe


def join_key(key: str, name: str) -> str:
    """``key.name``, or ``name`` at the top of a table."""
    return f"{key}.{name}" if key else name


def split_type(cfg: Any, key: str, default_type: str | None = None) -> tuple[Any, dict[str, Any]]:
    """The ``type`` and the remaining keyword arguments of a component table."""
    if isinstance(cfg, str):  # constructor = "Name" is shorthand for {type = "Name"}
        cfg = {"type": cfg}
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"expected a table with a 'type' key, got {describe(cfg)}", key=key)
    kwargs = copy.deepcopy(dict(cfg))
    type_name = kwargs.pop("type", default_type)
    if type_name is None:
        raise ConfigError("required key 'type' is missing", key=join_key(key, "type"))
    return type_name, kwargs


def _signature(target: Any) -> inspect.Signature | None:
    try:
        return inspect.signature(target)
    except (TypeError, ValueError):  # some builtins have no signature: accept anything
        return None


def _hints(target: Any) -> dict[str, Any]:
    func = target.__init__ if inspect.isclass(target) else target
    try:
        return typing.get_type_hints(func)
    except Exception:  # annotations that do not evaluate (forward references): no type checks
        return {}


def check_arguments(
    target: Any, kwargs: Mapping[str, Any], injected: Mapping[str, Any], key: str, label: str | None = None
) -> None:
    """Raise a :class:`ConfigError` if ``target(**injected, **kwargs)`` cannot bind or has a
    value of the wrong type. An argument the runner passes itself (``injected``) is not the
    config's to set. ``label`` names ``target`` in messages (its ``__name__`` by default)."""
    sig = _signature(target)
    if sig is None:
        return
    params = sig.parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    named = [n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    for name in kwargs:
        if (name not in params and not takes_any) or name in injected:
            label = label or getattr(target, "__name__", str(target))
            raise ConfigError(
                f"{label} has no argument {name!r} (it takes {', '.join(n for n in named if n not in injected)})",
                key=join_key(key, name),
                suggestions=closest(name, [n for n in named if n not in injected]),
            )
    for name, param in params.items():
        required = param.default is param.empty and param.kind in (
            param.POSITIONAL_OR_KEYWORD,
            param.KEYWORD_ONLY,
        )
        if required and name not in kwargs and name not in injected:
            raise ConfigError("required argument is missing", key=join_key(key, name))
    hints = _hints(target)
    for name, value in kwargs.items():
        if name in hints:
            problem = types.check(value, hints[name])
            if problem:
                raise ConfigError(problem, key=join_key(key, name))


def resolve_type(kind: str, type_name: Any, key: str) -> Any:
    """``registry.resolve`` with the error located at ``key.type``."""
    try:
        return registry.resolve(kind, type_name)
    except ConfigError as error:
        raise error.located(key_prefix=join_key(key, "type")) from error.__cause__


def resolve_checked(
    kind: str, cfg: Any, key: str, default_type: str | None = None, **injected: Any
) -> tuple[Any, dict[str, Any]]:
    """The component class and its keyword arguments, checked but not yet called."""
    type_name, kwargs = split_type(cfg, key, default_type)
    target = resolve_type(kind, type_name, key)
    check_arguments(target, kwargs, injected, key)
    return target, kwargs


def build(kind: str, cfg: Any, key: str, default_type: str | None = None, **injected: Any) -> Any:
    """Build one component: ``resolve(kind, cfg.type)(**injected, **rest_of_cfg)``.

    Raises:
        ConfigError: unknown type, bad arguments, or a ``ValueError`` from the constructor (a value
            it refuses), each with ``key`` in the key path.
    """
    target, kwargs = resolve_checked(kind, cfg, key, default_type, **injected)
    return call_checked(target, kwargs, key, **injected)


def call_checked(target: Any, kwargs: Mapping[str, Any], key: str, **injected: Any) -> Any:
    """Call a checked component; errors inside it that concern the config keep their key path."""
    try:
        return target(**injected, **kwargs)
    except ConfigError as error:
        raise error.located(key_prefix=key or None) from error
    except ValueError as error:
        label = getattr(target, "__name__", str(target))
        raise ConfigError(f"{label} refused its arguments: {error}", key=key or None) from error
