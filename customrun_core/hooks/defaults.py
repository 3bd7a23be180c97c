"""The default hooks of a run and how ``default_hooks`` / ``custom_hooks`` change them."""

from __future__ import annotations

from typing import Any

from customrun_core.build import build
from customrun_core.errors import ConfigError, HookError, closest, describe
from customrun_core.hooks.base import get_priority

# MMEngine's default hooks, in registration order (priorities are the classes').
DEFAULT_HOOKS: dict[str, str] = {
    "runtime_info": "RuntimeInfoHook",
    "timer": "IterTimerHook",
    "sampler_seed": "DistSamplerSeedHook",
    "logger": "LoggerHook",
    "param_scheduler": "ParamSchedulerHook",
    "checkpoint": "CheckpointHook",
}


def hook_tables(default_hooks: dict[str, Any], custom_hooks: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    """(key path, hook table) of every hook of the run, defaults first, then custom hooks.

    In ``default_hooks``, ``false`` drops a default hook, a table without ``type`` keeps the default
    class with the table's arguments, a table with ``type`` replaces it, and a new key adds a hook
    (it must have a ``type``).
    """
    tables: list[tuple[str, dict[str, Any]]] = []
    for name, type_name in DEFAULT_HOOKS.items():
        value = default_hooks.get(name, True)
        key = f"default_hooks.{name}"
        if value is False:
            continue
        if value is True:
            value = {}
        if not isinstance(value, dict):
            raise ConfigError(f"expected a table or false, got {describe(value)}", key=key)
        tables.append((key, {"type": type_name, **value}))
    for name, value in default_hooks.items():
        if name in DEFAULT_HOOKS:
            continue
        key = f"default_hooks.{name}"
        if not isinstance(value, dict) or "type" not in value:
            raise ConfigError(
                "unknown default hook; a new entry needs a table with 'type'",
                key=key,
                suggestions=closest(name, DEFAULT_HOOKS),
            )
        tables.append((key, value))
    for index, value in enumerate(custom_hooks):
        tables.append((f"custom_hooks[{index}]", value))
    return tables


def split_priority(table: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """The table without ``priority``, and the priority (None when the class decides)."""
    table = dict(table)
    return table, table.pop("priority", None)


def build_hook(table: dict[str, Any], key: str) -> tuple[Any, Any]:
    """A hook instance and its configured priority (checked here, so that a bad one names its key)."""
    table, priority = split_priority(table)
    if priority is not None:
        try:
            get_priority(priority)
        except HookError as error:
            raise HookError(error.message, key=f"{key}.priority", suggestions=error.suggestions) from None
    return build("hooks", table, key=key), priority
