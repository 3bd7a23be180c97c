"""A config as MLflow params: flattened key paths, names and values within MLflow's limits.

MLflow keeps params as strings under names of letters, digits and ``_ - . / `` and spaces (at most
250 characters), values of at most 6,000 characters, and takes at most 100 of them per request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

__all__ = ["MAX_KEY", "MAX_VALUE", "batches", "flatten", "mlflow_name", "param_value"]

MAX_KEY = 250  # MLflow's longest param, metric or tag name
MAX_VALUE = 6000  # MLflow's longest param value
BATCH = 100  # MLflow's most params or tags per log_batch request
_INVALID = re.compile(r"[^\w.\- /]")  # what MLflow refuses in a name on every platform (":" on Windows)


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``data`` by dotted key path: a table's keys under its own path, an array of tables' under
    ``path.0``, ``path.1``, ...; every other value (numbers, strings, arrays of them) as it is.

    ``{"optim_wrapper": {"optimizer": {"lr": 0.1}}, "param_scheduler": [{"type": "LinearLR"}]}``
    gives ``{"optim_wrapper.optimizer.lr": 0.1, "param_scheduler.0.type": "LinearLR"}``, MMEngine's
    layout for MLflow params.
    """
    flat: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{path}."))
        elif _is_table_array(value):
            for index, item in enumerate(value):
                flat.update(flatten(item, f"{path}.{index}."))
        else:
            flat[path] = value
    return flat


def _is_table_array(value: Any) -> bool:
    return (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and bool(value)
        and all(isinstance(item, Mapping) for item in value)
    )


def mlflow_name(name: str) -> str:
    """``name`` as MLflow accepts it: characters it refuses become ``_``, cut to 250 characters."""
    return _INVALID.sub("_", name)[:MAX_KEY]


def param_value(value: Any) -> str:
    """A param's string: TOML's spelling for booleans and arrays (JSON), ``str`` for the rest, cut
    to MLflow's 6,000 characters (ending in ``...`` when cut)."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, list | tuple | dict):
        text = json.dumps(value, default=str)
    else:
        text = str(value)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 3] + "..."


def batches(items: Sequence[Any], size: int = BATCH) -> Iterator[Sequence[Any]]:
    """``items`` in slices of at most ``size``, MLflow's limit per request."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
