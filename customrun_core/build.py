"""Building a component from its config table: resolve ``type``, check arguments, instantiate.

Arguments are checked against the component's signature before it is called, so that a misspelt
argument or a wrong type is a one-line error naming the key path, not a ``TypeError`` from deep
inside a constructor. Errors raised by nested builds carry their key path relative to the
table being built; each level prefixes its own key.

Nested tables (the rule ``docs/own-code.md`` states): a component named by a registered name
(customrun's own, a plugin's) gets its nested tables as they are written and builds them itself,
as MMEngine's do. A model or a dataset named by an import path (``module:Name``) is plain PyTorch
code that knows nothing of tables, so every table with a ``type`` among its arguments (also inside
an array or a table without ``type``) is built first, innermost first, by the same rule.
"""

from __future__ import annotations

import copy
import inspect
import typing
from collections.abc import Collection, Mapping
from typing import Any

from customrun_core import import_paths, registry
from customrun_core.config import types
from customrun_core.errors import ConfigError, CustomrunError, closest, describe, first_line


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
    target: Any,
    kwargs: Mapping[str, Any],
    injected: Mapping[str, Any],
    key: str,
    label: str | None = None,
    built_later: Collection[str] = (),
) -> None:
    """Raise a :class:`ConfigError` if ``target(**injected, **kwargs)`` cannot bind or has a
    value of the wrong type. An argument the runner passes itself (``injected``) is not the
    config's to set. ``label`` names ``target`` in messages (its ``__name__`` by default). The
    arguments in ``built_later`` hold tables that become objects before the call: their types
    are not checked here."""
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
        if name in hints and name not in built_later:
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
    """The component class and its keyword arguments, checked but not yet called (nested tables
    that :func:`build` would build first are checked too, and stay tables)."""
    return _resolve(kind, cfg, key, default_type, injected)[:2]


def build(kind: str, cfg: Any, key: str, default_type: str | None = None, **injected: Any) -> Any:
    """Build one component: ``resolve(kind, cfg.type)(**injected, **rest_of_cfg)``, nested tables
    first for a model or dataset named by import path (see the module's docstring).

    Raises:
        ConfigError: unknown type, bad arguments, or an exception from the constructor (a value it
            refuses, ``nn.Linear(64, -5)``'s RuntimeError), each one line with ``key`` in the key path.
    """
    target, kwargs, nested = _resolve(kind, cfg, key, default_type, injected)
    for name in nested:
        kwargs[name] = _build_nested(kwargs[name], join_key(key, name))
    return call_checked(target, kwargs, key, **injected)


# Kinds whose classes named by import path get their nested tables built (plain PyTorch code).
NESTING_KINDS = ("models", "datasets")


def _resolve(
    kind: str, cfg: Any, key: str, default_type: str | None, injected: Mapping[str, Any]
) -> tuple[Any, dict[str, Any], list[str]]:
    type_name, kwargs = split_type(cfg, key, default_type)
    target = resolve_type(kind, type_name, key)
    nested: list[str] = []
    if kind in NESTING_KINDS and _by_import_path(kind, type_name):
        nested = [name for name, value in kwargs.items() if _check_nested(value, join_key(key, name))]
    check_arguments(target, kwargs, injected, key, built_later=nested)
    return target, kwargs, nested


def _by_import_path(kind: str, type_name: Any) -> bool:
    return (
        isinstance(type_name, str)
        and (":" in type_name or "." in type_name)
        and type_name not in registry.known_names(kind)
    )


def _nested_target(table: Mapping[str, Any], key: str) -> tuple[Any, dict[str, Any], list[str]]:
    """A nested table's class (a registered model or dataset, or by import path a model, dataset,
    sampler or transform class) and its checked arguments, with those it will build first."""
    type_name, kwargs = split_type(table, key)
    kind = next((k for k in NESTING_KINDS if type_name in registry.known_names(k)), None)
    if kind is not None:
        return _resolve(kind, table, key, None, {})
    if not (isinstance(type_name, str) and (":" in type_name or "." in type_name)):
        names = sorted({n for k in NESTING_KINDS for n in registry.known_names(k)})
        raise ConfigError(
            f"unknown component {type_name!r} in a nested table (no registered model or dataset, no "
            "import path)",
            key=join_key(key, "type"),
            suggestions=closest(str(type_name), names),
        )
    try:
        target = import_paths.import_nested(type_name, "component")
    except ConfigError as error:
        raise error.located(key_prefix=join_key(key, "type")) from error.__cause__
    nested = [name for name, value in kwargs.items() if _check_nested(value, join_key(key, name))]
    check_arguments(target, kwargs, {}, key, built_later=nested)
    return target, kwargs, nested


def _check_nested(value: Any, key: str) -> bool:
    """Check the tables with a ``type`` in ``value``; whether there is any."""
    if isinstance(value, Mapping):
        if "type" in value:
            _nested_target(value, key)
            return True
        items = [(join_key(key, str(k)), v) for k, v in value.items()]
    elif isinstance(value, list | tuple):
        items = [(f"{key}[{i}]", v) for i, v in enumerate(value)]
    else:
        return False
    found = False
    for item_key, item in items:  # every one is checked, not only up to the first table
        found = _check_nested(item, item_key) or found
    return found


def _build_nested(value: Any, key: str) -> Any:
    if isinstance(value, Mapping):
        if "type" in value:
            target, kwargs, nested = _nested_target(value, key)
            for name in nested:
                kwargs[name] = _build_nested(kwargs[name], join_key(key, name))
            return call_checked(target, kwargs, key)
        return {k: _build_nested(v, join_key(key, str(k))) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_build_nested(v, f"{key}[{i}]") for i, v in enumerate(value)]
    return value


def call_checked(target: Any, kwargs: Mapping[str, Any], key: str, **injected: Any) -> Any:
    """Call a checked component; errors inside it that concern the config keep their key path."""
    try:
        return target(**injected, **kwargs)
    except ConfigError as error:
        raise error.located(key_prefix=key or None) from error
    except CustomrunError:
        raise
    except ValueError as error:
        label = getattr(target, "__name__", str(target))
        raise ConfigError(
            f"{label} refused its arguments: {first_line(error).removeprefix(type(error).__name__ + ': ')}",
            key=key or None,
        ) from error
    except Exception as error:  # nn.Linear(64, -5): RuntimeError; a TypeError, an IndexError, ...
        # the arguments passed the signature's checks, so what the constructor raises is about them:
        # one line with the key path (--traceback shows the rest)
        label = getattr(target, "__name__", str(target))
        raise ConfigError(
            f"{label} failed with these arguments: {first_line(error)}", key=key or None
        ) from error
