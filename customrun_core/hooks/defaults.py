"""The default hooks of a run and how ``default_hooks`` / ``custom_hooks`` change them.

A run's hooks are assembled in two steps: :func:`hook_tables` turns the config into one table per
hook (defaults first, then custom hooks), and :func:`build_hook` builds each. ``build_hook``
returns None for a hook that is not wanted on this process (:meth:`Hook.wanted`: the progress bar
outside a terminal, or on a rank other than 0); the caller registers only what it returns, so a
hook that is off costs nothing per iteration.
"""

from __future__ import annotations

from typing import Any

from customrun_core.build import build
from customrun_core.errors import ConfigError, HookError, closest, describe
from customrun_core.hooks.base import get_priority

# MMEngine's default hooks, then the progress bar, in registration order (priorities are the
# classes'). The bar's is registered only where it is shown (see ProgressBarHook.wanted).
DEFAULT_HOOKS: dict[str, str] = {
    "runtime_info": "RuntimeInfoHook",
    "timer": "IterTimerHook",
    "sampler_seed": "DistSamplerSeedHook",
    "logger": "LoggerHook",
    "param_scheduler": "ParamSchedulerHook",
    "checkpoint": "CheckpointHook",
    "progress": "ProgressBarHook",
}
PROGRESS_KEY = "default_hooks.progress"


def hook_tables(
    default_hooks: dict[str, Any], custom_hooks: list[Any], progress: bool | str = "auto"
) -> list[tuple[str, dict[str, Any]]]:
    """(key path, hook table) of every hook of the run, defaults first, then custom hooks.

    In ``default_hooks``, ``false`` drops a default hook, a table without ``type`` keeps the default
    class with the table's arguments, a table with ``type`` replaces it, and a new key adds a hook
    (it must have a ``type``). ``progress`` is the config's top-level key of that name: see
    :func:`progress_setting` for how it and ``default_hooks.progress`` decide the progress bar.

    Raises:
        ConfigError: a value that is neither a table nor a boolean, an unknown key without
            ``type``, or ``progress`` and ``default_hooks.progress`` saying opposite things.
    """
    tables: list[tuple[str, dict[str, Any]]] = []
    for name, type_name in DEFAULT_HOOKS.items():
        key = f"default_hooks.{name}"
        value = default_hooks.get(name, True)
        if name == "progress":
            value = progress_setting(default_hooks.get(name), progress)
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


def progress_setting(value: Any, progress: bool | str) -> Any:
    """``default_hooks.progress`` (``value``, None when absent) with the top-level ``progress`` key
    folded in: false (no bar), or the table of the bar's arguments.

    Absent, ``progress`` decides: false, or ``show = progress`` (``"auto"``, the default, shows
    the bar only on a terminal). Given, ``default_hooks.progress`` decides: ``false`` hides the
    bar, ``true`` or a table asks for it (``show`` is true unless the table sets it; a table with
    its own ``type`` is left as it is). ``progress = true`` or ``false`` next to a
    ``default_hooks.progress`` that says otherwise is a config error; ``progress = "auto"`` next
    to it is not (it is the default).

    Raises:
        ConfigError: the two keys disagree.
    """
    if value is None:
        return False if progress is False else {"show": progress}
    setting = {} if value is True else value
    if isinstance(setting, dict) and "type" not in setting:
        setting = {"show": True, **setting}
    show: Any = progress  # unless default_hooks.progress says otherwise (a non-table is refused later)
    if setting is False:
        show = False
    elif isinstance(setting, dict):
        show = setting.get("show", progress)
    if isinstance(progress, bool) and show != progress:
        raise ConfigError(
            f"{describe(value)} disagrees with progress = {str(progress).lower()}: set the progress bar in"
            ' one place (with progress = "auto", the default, default_hooks.progress decides)',
            key=PROGRESS_KEY,
        )
    return setting


def split_priority(table: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """The table without ``priority``, and the priority (None when the class decides)."""
    table = dict(table)
    return table, table.pop("priority", None)


def build_hook(table: dict[str, Any], key: str, rank: int = 0) -> tuple[Any, Any] | None:
    """The hook a table describes and its configured priority (checked here, so that a bad one
    names its key), or None when the hook is not wanted on the process ``rank``
    (:meth:`Hook.wanted`): the caller then registers nothing."""
    table, priority = split_priority(table)
    if priority is not None:
        try:
            get_priority(priority)
        except HookError as error:
            raise HookError(error.message, key=f"{key}.priority", suggestions=error.suggestions) from None
    hook = build("hooks", table, key=key)
    wanted = getattr(hook, "wanted", None)
    if wanted is not None and not wanted(rank):
        return None
    return hook, priority


def hook_key(cfg: Any, type_name: str, **values: Any) -> str | None:
    """The key path of the first hook table of the config ``cfg`` whose ``type`` names the class
    ``type_name`` and whose entries include ``values``; None when none does (a hook given from
    Python). A hook does not know its key: this is for the errors it finds while the run goes."""
    for key, table in hook_tables(cfg.default_hooks, cfg.custom_hooks, cfg.progress):
        name = str(table.get("type", "")).rpartition(":")[2].rpartition(".")[2]
        if name == type_name and all(table.get(k) == v for k, v in values.items()):
            return key
    return None
