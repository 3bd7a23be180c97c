"""What ``customrun train`` would refuse in a converted config, found by train's own pre-flight check.

Convert keeps a component's arguments as MMEngine wrote them; customrun's component may not take
them all (``LoggerHook`` has no ``log_metric_by_epoch`` in one version, a ``CheckpointHook`` no
``save_best``). Rather than restate customrun's signatures, the converted data goes through the
very check ``train`` runs before it builds anything: :func:`customrun_core.config.load_config`'s
validation, then :func:`customrun_core.assembly.check`. Each refusal names a key path; that key
(or the table it belongs to) is reported and left out, and the check runs again, until the config
passes. So a config convert reports clean passes train's pre-flight once it has a model and data.

Nothing of the config is imported: a component convert knows only by name (a class that a
``custom_imports`` module registers, read from its source; an import path; a first-party plugin
that is not installed) is checked against a stand-in with the signature read from its source,
or one that takes anything when there is none to read.
"""

from __future__ import annotations

import copy
import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any

from customrun_core import registry
from customrun_core.convert.report import key_path
from customrun_core.errors import ConfigError, did_you_mean

# Placeholder for a fragment's missing model: the check takes an object given from Python as it is.
_BUILT_MODEL = {"model": object()}
_ANYTHING = inspect.Signature([inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)])
_PART = re.compile(r'"((?:[^"\\]|\\.)*)"|([^.\[\]]+)|\[(\d+)\]')


def fit(
    data: dict[str, Any],
    stand_ins: Mapping[tuple[str, str], inspect.Signature | None],
    report: Callable[[str, str], None],
) -> dict[str, Any]:
    """``data`` less what train's pre-flight refuses, each refusal ``report``\\ ed (key path, message).

    Args:
        data: the converted config (TOML-ready); left unchanged.
        stand_ins: ``(kind, name)`` of each component convert keeps without being able to import
            it, with the signature read from its source (``None``: it takes anything).
        report: called with the key path and the message of each key left out.
    """
    from customrun_core import assembly
    from customrun_core.config import load_config

    out = copy.deepcopy(data)
    saved = registry.snapshot()
    try:
        for (kind, name), signature in stand_ins.items():
            registry.register(kind, name, force=True)(_stand_in(kind, name, signature))
        for _ in range(_count_keys(out) + 1):  # each round leaves out at least one key
            candidate = out if "model" in out else {**out, "model": {}}
            try:
                cfg = load_config(candidate)
                assembly.check(cfg, {} if "model" in out else _BUILT_MODEL)
                return out
            except ConfigError as error:
                message = error.message + did_you_mean(error.suggestions)
                key = _leave_out(out, error.key or "")
                if key is None:  # a missing argument, or no key path: kept as written, said once
                    report(error.key or "", f"{message}: customrun train refuses this until it is given"
                           " (what follows it is not checked)")  # fmt: skip
                    return out
                report(key, f"{message}; {key} is left out" if key != error.key else f"{message}, left out")
        return out
    finally:
        saved.restore()


def _stand_in(kind: str, name: str, signature: inspect.Signature | None) -> type:
    """A class checked in place of ``name``: its signature, or one taking anything."""
    base: type = object
    if kind == "loops":  # a train_cfg loop must be a TrainLoop (assembly checks the class)
        from customrun_core.loops import TrainLoop

        base = TrainLoop
    return type(name.rpartition(":")[2] or name, (base,), {"__signature__": signature or _ANYTHING})


def _count_keys(value: Any) -> int:
    if isinstance(value, dict):
        return len(value) + sum(_count_keys(v) for v in value.values())
    if isinstance(value, list):
        return len(value) + sum(_count_keys(v) for v in value)
    return 0


def _parts(key: str) -> list[str | int]:
    """``["a", 0, "b.c"]`` for the key path ``a[0]."b.c"``."""
    parts: list[str | int] = []
    for quoted, plain, index in _PART.findall(key):
        parts.append(int(index) if index else quoted or plain)
    return parts


def _leave_out(data: dict[str, Any], key: str) -> str | None:
    """Removes from ``data`` what ``key`` names (the table holding it when the key is its ``type``;
    the whole array when it is an item of an array that is no component table), and returns the
    key path removed; ``None`` when ``key`` is not in ``data`` (a missing argument)."""
    parts = _parts(key)
    if parts and parts[-1] == "type":
        parts.pop()
    found: list[tuple[Any, str | int]] = []  # (container, part) down to the deepest part present
    node: Any = data
    for part in parts:
        present = (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and part < len(node)
        )
        if not present:
            return None
        found.append((node, part))
        node = node[part]
    # an item of an array goes only when it is a component table; otherwise its whole array goes
    while found and isinstance(found[-1][0], list) and not _is_component(_item(*found[-1])):
        found.pop()
    if not found:
        return None
    container, part = found[-1]
    del container[part]
    return key_path([p for _, p in found])


def _item(container: Any, part: str | int) -> Any:
    return container[part]


def _is_component(value: Any) -> bool:
    return isinstance(value, dict) and "type" in value
