"""Built objects in a config given from Python: ``Runner.from_config({"model": Net(), ...})``.

A config written in Python may hold a built object wherever a component table goes: an ``nn.Module``
for ``model``, a ``DataLoader`` for ``<mode>_dataloader``, a ``Dataset`` for
``<mode>_dataloader.dataset``, a metric for ``<mode>_evaluator`` (or an item of its array), a hook for
an item of ``custom_hooks``. :func:`split_built` takes them out before the config is validated: each
is replaced by a table naming its class (``{type = "my_model:Net"}``), which is what the run's
``config.toml`` records, and kept by key path for the assembly to use as it is. The config stays
data; nothing here imports torch.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from customrun_core.errors import ConfigError

__all__ = ["BUILT_PLACES", "class_path", "split_built"]

_PLAIN = (str, int, float, bool, type(None), dict, list, tuple)
MODES = ("train", "val", "test")
BUILT_PLACES = (
    "model, <mode>_dataloader, <mode>_dataloader.dataset, val_evaluator / test_evaluator (or an item of"
    " theirs) and an item of custom_hooks"
)


def class_path(obj: Any) -> str:
    """``module:QualName`` of ``obj``'s class: what the resolved config records for it."""
    cls = type(obj)
    return f"{cls.__module__}:{cls.__qualname__}"


def _is_built(value: Any) -> bool:
    return not isinstance(value, (*_PLAIN, os.PathLike))  # a path is data: the schema checks it


def split_built(source: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``source`` with every built object replaced by a table naming its class, and the objects by
    key path (``"model"``, ``"train_dataloader.dataset"``, ``"custom_hooks[1]"``, ...).

    Raises:
        ConfigError: a built object anywhere else (a table there is checked against a signature,
            an object cannot be); the message names the places that take one.
    """
    data = _copy(dict(source))
    built: dict[str, Any] = {}

    def take(key: str, value: Any) -> dict[str, Any]:
        built[key] = value
        return {"type": class_path(value)}

    if _is_built(data.get("model")):
        data["model"] = take("model", data["model"])
    for mode in MODES:
        key = f"{mode}_dataloader"
        loader = data.get(key)
        if _is_built(loader):
            built[key] = loader
            data[key] = {"dataset": {"type": class_path(getattr(loader, "dataset", loader))}}
        elif isinstance(loader, dict) and _is_built(loader.get("dataset")):
            loader["dataset"] = take(f"{key}.dataset", loader["dataset"])
    for key in ("val_evaluator", "test_evaluator", "custom_hooks"):
        value = data.get(key)
        if _is_built(value) and key != "custom_hooks":
            data[key] = take(key, value)
        elif isinstance(value, list | tuple):
            data[key] = [
                take(f"{key}[{i}]", item) if _is_built(item) else item for i, item in enumerate(value)
            ]
    _refuse_stray(data, "")
    return data, built


def _copy(value: Any) -> Any:
    """Tables and arrays copied (the caller's dict is left as it was), every other value kept: an
    object is used, never copied."""
    if isinstance(value, Mapping):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_copy(item) for item in value]
    return value


def _refuse_stray(value: Any, key: str) -> None:
    """A ConfigError for the first built object left (outside the places that take one)."""
    if isinstance(value, Mapping):
        for name, item in value.items():
            _refuse_stray(item, f"{key}.{name}" if key else str(name))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _refuse_stray(item, f"{key}[{index}]")
    elif _is_built(value):
        raise ConfigError(
            f"expected a table, got a built {type(value).__name__} object: a built object is taken only as"
            f" {BUILT_PLACES}",
            key=key,
        )
