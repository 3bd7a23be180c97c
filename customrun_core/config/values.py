"""Bounds on the values a config may hold, checked as each file (or ``--set`` value) is read.

TOML lets through what no run can use: ``inf`` and ``nan``, floats that overflow the float32
arithmetic of optimizers and schedulers (``lr = 1e308``), integers of any size (``10**400``),
tables nested thousands deep. Each is refused here, in one line naming the key path, before
anything recurses over the data or hands a number to torch.
"""

from __future__ import annotations

import math
from typing import Any

from customrun_core.errors import ConfigError

__all__ = ["FLOAT_MAX", "INT_MAX", "INT_MIN", "MAX_DEPTH", "check_values"]

MAX_DEPTH = 64  # tables and arrays inside one another; MMEngine's configs nest fewer than 10
FLOAT_MAX = 3.4028234663852886e38  # float32's largest: lr, momentum, ... are used in float32 math
INT_MIN, INT_MAX = -(2**63), 2**63 - 1  # TOML's integer range (the spec: 64-bit signed)


def check_values(data: Any, file: str, key: str = "") -> None:
    """Raise a :class:`ConfigError` for the first value (in document order) that is not finite,
    beyond ``FLOAT_MAX`` or TOML's integer range, or nested deeper than ``MAX_DEPTH``.

    Iterative, so that any depth of input is refused, never a ``RecursionError``; objects that are
    not TOML values (built objects from a Python config) are left to the schema."""
    pending: list[tuple[str, Any, int]] = [(key, data, 0)]
    while pending:
        where, value, depth = pending.pop()
        if isinstance(value, dict | list | tuple):
            if depth >= MAX_DEPTH:
                raise ConfigError(
                    f"expected tables and arrays nested at most {MAX_DEPTH} deep, got deeper", file=file,
                    key=where or None,
                )  # fmt: skip
            items = (
                [(f"{where}.{k}" if where else str(k), v) for k, v in value.items()]
                if isinstance(value, dict)
                else [(f"{where}[{i}]", v) for i, v in enumerate(value)]
            )
            pending.extend((k, v, depth + 1) for k, v in reversed(items))
            continue
        problem = _number_problem(value)
        if problem:
            raise ConfigError(problem, file=file, key=where or None)


def _number_problem(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return f"expected a finite number, got {value}"
        if abs(value) > FLOAT_MAX:
            return (
                f"expected a number of magnitude at most {FLOAT_MAX:.4g} (float32's largest), got {value:g}"
            )
    if isinstance(value, int) and not INT_MIN <= value <= INT_MAX:
        # str() of a huge integer is itself slow or refused (Python's 4300-digit limit): say its size
        return f"expected an integer from -2**63 to 2**63 - 1, got one of {value.bit_length()} bits"
    return None
