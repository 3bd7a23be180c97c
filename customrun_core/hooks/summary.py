"""What the console says about a run's validation results: which metric leads, its final and best value,
and the best checkpoint when the CheckpointHook keeps one.

The leading metric of a validation result is MMEngine's ``save_best="auto"`` choice, the first metric,
except that a metric whose direction cannot be inferred gives way to the first one whose direction
can (a best value needs a direction). The direction is inferred from the name as MMEngine's
CheckpointHook infers it (:func:`customrun_core.hooks.best.infer_rule`). When the CheckpointHook
tracks a ``save_best`` metric, its marker (``best_checkpoints.json``) decides instead: its first
metric, its rule, its best checkpoint.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from customrun_core.hooks import best as bests
from customrun_core.scalars import RECORD_KEYS


def infer_rule(name: str) -> str | None:
    """``"greater"`` or ``"less"`` for a metric name with MMEngine's default key lists; None when
    neither matches."""
    return bests.infer_rule(name, bests.GREATER_KEYS, bests.LESS_KEYS)


def leading_metric(metrics: Mapping[str, Any]) -> tuple[str, str | None] | None:
    """The metric the console reports (see the module docstring) and its rule; None without metrics."""
    for name in metrics:
        rule = infer_rule(name)
        if rule is not None:
            return name, rule
    return (next(iter(metrics)), None) if metrics else None


def read_marker(work_dir: Path) -> dict[str, dict[str, Any]]:
    """The CheckpointHook's ``best_checkpoints.json`` of ``work_dir``: ``{metric: {path, score, step,
    rule}}``; empty when there is none or it cannot be read (the summary then leaves the path out)."""
    try:
        entries = json.loads((work_dir / bests.MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return entries if isinstance(entries, dict) else {}


class MetricHistory:
    """A run's validation results, each with where it was got: the epoch in an epoch-based run, the
    iteration in an iteration-based one (:attr:`unit`)."""

    def __init__(self, unit: str = "epoch") -> None:
        self.unit = unit
        self.results: list[tuple[dict[str, float], int]] = []

    def add(self, metrics: Mapping[str, Any], where: int) -> None:
        """Take one validation result, got at ``where``."""
        if metrics:
            self.results.append(({k: float(v) for k, v in metrics.items()}, where))

    def replay(self, scalars: Path, up_to: int) -> None:
        """Take the validation records of ``scalars`` (a ``scalars.jsonl``) got at or before ``up_to``
        (in :attr:`unit`): what an interrupted run validated before the checkpoint a run resumes."""
        if not scalars.is_file():
            return
        with open(scalars, encoding="utf-8") as f:
            for line in f:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:  # a line cut short by the interruption
                    continue
                if not isinstance(record, dict) or record.get("mode") != "val":
                    continue
                where = record.get("epoch" if self.unit == "epoch" else "step")
                if isinstance(where, int) and where <= up_to:
                    values = {k: v for k, v in record.items() if k not in RECORD_KEYS}
                    self.add({k: math.nan if v is None else v for k, v in values.items()}, where)

    def describe(
        self, marker: Mapping[str, Mapping[str, Any]] | None = None, work_dir: Path | None = None
    ) -> str | None:
        """``"accuracy/top1: final 81.2500 (epoch 5), best 82.5000 (epoch 4)"``, then the best
        checkpoint when ``marker`` (:func:`read_marker`) has one for the metric; None before the first
        validation. A metric of ``marker`` that the validations report leads, with the marker's rule."""
        if not self.results:
            return None
        reported = self.results[-1][0]
        tracked = [m for m in marker or {} if m in reported]
        if tracked:
            key, rule = tracked[0], (marker or {})[tracked[0]].get("rule") or infer_rule(tracked[0])
        else:
            lead = leading_metric(reported)
            assert lead is not None  # add() keeps non-empty results only
            key, rule = lead
        series = [(m[key], where) for m, where in self.results if key in m]
        text = f"{key}: final {series[-1][0]:.4f} ({self.unit} {series[-1][1]})"
        best: tuple[float, int] | None = None
        for value, where in series:  # strictly better, as MMEngine compares: a tie keeps the earlier
            if math.isfinite(value) and (
                best is None or (value > best[0] if rule == "greater" else value < best[0])
            ):
                best = (value, where)
        if rule is None:
            text += " (no best: customrun cannot tell whether greater or less is better for this name)"
        elif best is not None:
            text += f", best {best[0]:.4f} ({self.unit} {best[1]})"
        if tracked:
            path = Path(str((marker or {})[key].get("path")))
            text += f", best checkpoint {path if path.is_absolute() or work_dir is None else work_dir / path}"
        return text
