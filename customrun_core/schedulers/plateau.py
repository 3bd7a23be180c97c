"""Reduce a value when a validation metric stops improving (MMEngine's ReduceOnPlateau schedulers).

Torch's ``ReduceLROnPlateau`` rule inside MMEngine's ``[begin, end)`` window of training epochs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from customrun_core.errors import ConfigError, closest
from customrun_core.schedulers.base import INF, ParamScheduler, fixed_param, per_group
from customrun_core.schedulers.momentum import fixed_momentum


class ReduceOnPlateauParamScheduler(ParamScheduler):
    """Multiplies the value by ``factor`` once ``monitor`` has not improved for ``patience`` validations.

    Epoch-based only, and driven by validation metrics (``need_val_args``): ``ParamSchedulerHook``
    calls ``step()`` after each training epoch, which only counts the epoch (the window
    ``[begin, end)`` is in training epochs, as MMEngine), and ``step(metrics)`` after each
    validation, which applies the rule. Without validation it never changes anything.

    Args:
        monitor: the metric to watch, a key of the validation metrics (``"accuracy/top1"``).
        rule: ``"less"`` (lower is better, a loss) or ``"greater"`` (an accuracy).
        factor: the multiplier, in [0, 1).
        patience: validations without improvement tolerated; the value is reduced at the next.
        threshold: how much better than the best a metric must be to count as an improvement.
        threshold_rule: ``"rel"`` (better than ``best * (1 -/+ threshold)``) or ``"abs"``
            (better than ``best -/+ threshold``).
        cooldown: validations to wait after a reduction before counting bad ones again.
        min_value: the floor (one number, or one per parameter group).
        eps: a reduction smaller than this is skipped.
    """

    need_val_args = True

    def __init__(
        self,
        optimizer: Any,
        param_name: str,
        monitor: str = "loss",
        rule: Literal["less", "greater"] = "less",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_rule: Literal["rel", "abs"] = "rel",
        cooldown: int = 0,
        min_value: float | Sequence[float] = 0.0,
        eps: float = 1e-8,
        begin: float = 0,
        end: float = INF,
        last_step: int = -1,
        by_epoch: bool = True,
    ) -> None:
        if not by_epoch:
            raise ConfigError("ReduceOnPlateau schedulers are epoch-based only", key="by_epoch")
        if not 0 <= factor < 1:
            raise ConfigError(f"expected a factor in [0, 1), got {factor}", key="factor")
        if rule not in ("less", "greater"):
            raise ConfigError(f"expected 'less' or 'greater', got {rule!r}", key="rule")
        if threshold_rule not in ("rel", "abs"):
            raise ConfigError(f"expected 'rel' or 'abs', got {threshold_rule!r}", key="threshold_rule")
        for key, value in (("patience", patience), ("cooldown", cooldown)):
            if value < 0:
                raise ConfigError(f"expected an integer >= 0, got {value}", key=key)
        self.monitor, self.rule, self.factor = monitor, rule, factor
        self.patience, self.cooldown, self.eps = patience, cooldown, eps
        self.threshold, self.threshold_rule = threshold, threshold_rule
        self.min_values = per_group(optimizer, min_value, "min_value")
        self.best = math.inf if rule == "less" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        super().__init__(optimizer, param_name, begin, end, last_step, by_epoch)

    def step(self, metrics: Mapping[str, Any] | None = None) -> None:
        """Without ``metrics``: count a training epoch. With them: apply the plateau rule (inside
        the window), as torch's ``ReduceLROnPlateau.step``."""
        if metrics is None:
            self._global_step += 1
        elif self.begin <= self._global_step < self.end:
            self.last_step += 1
            self._observe(self._metric(metrics))
        self._last_value = self.current()

    def _metric(self, metrics: Mapping[str, Any]) -> float:
        if self.monitor not in metrics:
            raise ConfigError(
                f"{type(self).__name__} monitors {self.monitor!r}, which is not among the validation "
                f"metrics ({', '.join(sorted(metrics)) or 'none'})",
                key="monitor",
                suggestions=closest(self.monitor, metrics),
            )
        return float(metrics[self.monitor])

    def _observe(self, metric: float) -> None:
        if self._is_better(metric):
            self.best, self.num_bad_epochs = metric, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad validations during the cooldown do not count
        if self.num_bad_epochs > self.patience:
            for group, new in zip(self.optimizer.param_groups, self.get_value(), strict=True):
                if group[self.param_name] - new > self.eps:
                    group[self.param_name] = new
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0

    def _is_better(self, metric: float) -> bool:
        relative = self.threshold_rule == "rel"
        if self.rule == "less":
            return metric < (self.best * (1 - self.threshold) if relative else self.best - self.threshold)
        return metric > (self.best * (1 + self.threshold) if relative else self.best + self.threshold)

    def get_value(self) -> list[float]:
        """The reduced value of each group, not below its ``min_value``."""
        return [max(b * self.factor, m) for b, m in zip(self.current(), self.min_values, strict=True)]


ReduceOnPlateauLR = fixed_param(ReduceOnPlateauParamScheduler, "lr", "ReduceOnPlateauLR")
ReduceOnPlateauMomentum = fixed_momentum(ReduceOnPlateauParamScheduler, "ReduceOnPlateauMomentum")
