"""The best checkpoint of a run: MMEngine's rule inference, the record of each metric's best, and
the ``best_checkpoints.json`` marker that ``customrun test --checkpoint best`` reads.

Nothing here imports torch: the command line reads the marker before it builds a run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from customrun_core.errors import ConfigError, closest, describe

# MMEngine's CheckpointHook._default_greater_keys / _default_less_keys, matched as it matches them:
# case-insensitively, first as the whole name, then as a part of it, greater keys first.
GREATER_KEYS = ("acc", "top", "AR@", "auc", "precision", "mAP", "mDice", "mIoU", "mAcc", "aAcc")
LESS_KEYS = ("loss",)
RULES = ("greater", "less")
AUTO = "auto"
MARKER = "best_checkpoints.json"
"""In the work directory: each save_best metric's best checkpoint (path, score, step, rule)."""


def as_names(value: Any, key: str) -> list[str] | None:
    """A string or an array of distinct strings as a list; None stays None.

    Raises:
        ConfigError: another type, an empty or repeated name.
    """
    if value is None:
        return None
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list | tuple) or not names or not all(isinstance(n, str) and n for n in names):
        raise ConfigError(f"expected a name or an array of names, got {describe(value)}", key=key)
    repeated = sorted({n for n in names if list(names).count(n) > 1})
    if repeated:
        raise ConfigError(f"expected distinct names, got {', '.join(map(repr, repeated))} twice", key=key)
    return list(names)


def check_save_best(save_best: list[str], rule: Any) -> list[str | None]:
    """The rule of each ``save_best`` entry as given (None: to infer), MMEngine's pairing: one rule
    for all, or one per entry. ``"auto"`` stands alone.

    Raises:
        ConfigError: ``"auto"`` beside other names, a rule that is not ``"greater"``/``"less"``, or
            a list of rules of another length.
    """
    if AUTO in save_best and len(save_best) > 1:
        raise ConfigError(f'expected "auto" alone, got {save_best}', key="save_best")
    rules: list[Any] = [rule] if rule is None or isinstance(rule, str) else list(rule)
    if not isinstance(rule, str | list | tuple | type(None)) or len(rules) not in (1, len(save_best)):
        raise ConfigError(
            f"expected one rule or one per save_best entry ({len(save_best)}), got {describe(rule)}",
            key="rule",
        )
    for given in rules:
        if given is not None and given not in RULES:
            raise ConfigError(
                f'expected "greater" or "less", got {describe(given)}',
                key="rule",
                suggestions=closest(str(given), RULES, n=1),
            )
    return rules * len(save_best) if len(rules) == 1 else rules


def infer_rule(metric: str, greater_keys: Sequence[str], less_keys: Sequence[str]) -> str | None:
    """MMEngine's inference: ``"greater"`` or ``"less"`` from the metric's name, None if neither
    list matches (MMEngine then refuses, as customrun does)."""
    name = metric.lower()
    greater = {k.lower() for k in greater_keys}
    less = {k.lower() for k in less_keys}
    if name in greater:
        return "greater"
    if name in less:
        return "less"
    if any(k in name for k in greater):
        return "greater"
    if any(k in name for k in less):
        return "less"
    return None


def no_rule_error(metric: str, greater_keys: Sequence[str], less_keys: Sequence[str]) -> ConfigError:
    return ConfigError(
        f"cannot tell whether a greater or a smaller {metric!r} is better (its name contains none of "
        f'greater_keys {list(greater_keys)} or less_keys {list(less_keys)}): set rule = "greater" or "less"',
        key="rule",
    )


def is_better(rule: str, score: float, best: float | None) -> bool:
    """Strictly better, as MMEngine compares (a tie keeps the earlier best; NaN is never better)."""
    if math.isnan(score):
        return False
    if best is None:
        return True
    return score > best if rule == "greater" else score < best


def best_file_name(metric: str, step_file: str) -> str:
    """MMEngine's name of a best checkpoint: ``best_{metric}_{periodic name}``, ``/`` made ``_``."""
    return f"best_{metric}_{step_file}".replace("/", "_")


# -- the marker ----------------------------------------------------------------------------------
def write_marker(work_dir: Path, entries: Mapping[str, Mapping[str, Any]]) -> None:
    """Replace ``work_dir/best_checkpoints.json`` atomically: ``{metric: {path, score, step, rule}}``;
    ``path`` is relative to ``work_dir`` when the checkpoint lies inside it."""
    from customrun_core.checkpoint import write_text_atomic

    write_text_atomic(work_dir / MARKER, json.dumps(dict(entries), indent=2) + "\n")


def find_best(work_dir: Path, metric: str | None = None, key: str = "--checkpoint") -> Path:
    """The best checkpoint of ``work_dir`` (of ``metric`` when a run tracked several).

    Raises:
        ConfigError: no marker, an unknown metric, several metrics and none named, or a file gone.
    """
    marker = work_dir / MARKER
    try:
        entries = json.loads(marker.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{work_dir} has no best checkpoint ({MARKER} is missing): train with "
            "default_hooks.checkpoint.save_best set, or pass a checkpoint file",
            key=key,
        ) from None
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot read {marker}: {error}", key=key) from None
    names = list(entries)
    if metric is None:
        if len(names) != 1:
            shown = ", ".join(names) or "none"
            raise ConfigError(
                f"{work_dir} has best checkpoints of {len(names)} metrics ({shown}): "
                f"name one, e.g. --checkpoint best:{names[0] if names else 'METRIC'}",
                key=key,
            )
        metric = names[0]
    if metric not in entries:
        raise ConfigError(
            f"{work_dir} has no best checkpoint of {metric!r} (it has {', '.join(names) or 'none'})",
            key=key,
            suggestions=closest(metric, names, n=1),
        )
    path = Path(entries[metric]["path"])
    path = path if path.is_absolute() else work_dir / path
    if not path.exists():
        raise ConfigError(f"{marker} names {path}, which no longer exists", key=key)
    return path
