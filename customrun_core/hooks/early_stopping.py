"""EarlyStoppingHook: ends training once a validation metric stops improving (MMEngine's hook of that
name, with its arguments and defaults)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from customrun_core import checkpoint as ckpt
from customrun_core.build import join_key
from customrun_core.errors import ConfigError, closest, did_you_mean
from customrun_core.hooks.base import Hook, Priority
from customrun_core.hooks.best import GREATER_KEYS, LESS_KEYS, infer_rule, no_rule_error
from customrun_core.hooks.defaults import hook_key

if TYPE_CHECKING:
    from customrun_core.hooks.runner_view import RunnerView

# The checkpoint entry holding each EarlyStoppingHook's counters, by monitored metric.
STATE_KEY = "early_stopping"
# In the work directory: the counters after each validation, by monitored metric and iteration.
HISTORY = "early_stopping.json"


def _read_history(path: Path) -> dict[str, dict[str, Any]]:
    try:
        history = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return history if isinstance(history, dict) else {}


class EarlyStoppingHook(Hook):
    """Stops training when ``monitor`` has not improved for ``patience`` validations.

    After each validation of a training run it compares the metric with the best value so far: it
    improves when it is at least ``min_delta`` better (``>= best + min_delta`` for ``rule =
    "greater"``, ``<= best - min_delta`` for ``"less"``; the first value always does). Otherwise a
    counter goes up; once it reaches ``patience`` the hook sets ``train_loop.stop_training``. It
    also stops at once when the value passes ``stopping_threshold`` (strictly), or, with
    ``check_finite``, is NaN or infinite. The loop then ends as at the end of the run:
    ``after_train_epoch`` has fired, a last checkpoint is written, then ``after_train`` and
    ``after_run``; one log line says why it stopped.

    Unlike MMEngine, a non-finite value with ``check_finite = false`` counts as no improvement
    (MMEngine takes a NaN as the new best and can then never stop). The counter, the best value and
    the step of the best are saved in checkpoints (``early_stopping``), so a resumed run goes on
    counting where the checkpoint was taken.

    Args:
        monitor: the validation metric to watch (``"accuracy/top1"``).
        rule: ``"greater"`` or ``"less"`` is better; absent, inferred from the name as MMEngine
            does (:func:`customrun_core.hooks.best.infer_rule`: ``acc``, ``top``, ``mAP``, ...
            greater; ``loss`` less).
        min_delta: the smallest change that counts as an improvement.
        strict: a validation without ``monitor`` is an error (else a warning, once, and the
            validation is skipped).
        check_finite: stop when the metric is NaN or infinite.
        patience: validations without improvement after which training stops.
        stopping_threshold: stop as soon as the metric is better than this.

    Raises:
        ConfigError: an unknown ``rule``, one that cannot be inferred, a negative ``patience``.
    """

    priority = Priority.LOWEST

    def __init__(
        self,
        monitor: str,
        rule: Literal["greater", "less"] | None = None,
        min_delta: float = 0.1,
        strict: bool = False,
        check_finite: bool = True,
        patience: int = 5,
        stopping_threshold: float | None = None,
    ) -> None:
        if rule is None:  # MMEngine's EarlyStoppingHook infers it as its CheckpointHook does
            inferred = infer_rule(monitor, GREATER_KEYS, LESS_KEYS)
            if inferred is None:
                raise no_rule_error(monitor, GREATER_KEYS, LESS_KEYS)
            rule = "greater" if inferred == "greater" else "less"
        elif rule not in ("greater", "less"):
            raise ConfigError(f"expected 'greater' or 'less', got {rule!r}", key="rule")
        if patience < 0:
            raise ConfigError(f"expected an integer >= 0, got {patience}", key="patience")
        self.monitor, self.rule, self.min_delta = monitor, rule, float(min_delta)
        self.strict, self.check_finite, self.patience = strict, check_finite, patience
        self.stopping_threshold = stopping_threshold
        self.wait_count = 0
        self.best_score = -math.inf if rule == "greater" else math.inf
        self.best_step: int | None = None  # the epoch (iteration) whose validation gave the best
        self._warned = False

    def after_val_epoch(self, runner: RunnerView, metrics: Mapping[str, Any] | None = None) -> None:
        loop = runner.train_loop
        if loop is None or metrics is None:  # a validation outside training: nothing to stop
            return
        if self.monitor not in metrics:
            self._missing(runner, metrics)
            return
        unit, step = ("epoch", runner.epoch) if loop.by_epoch else ("iteration", runner.iter)
        reason = self._observe(float(metrics[self.monitor]), step)
        self._record(runner)
        if reason:
            loop.stop_training = True
            best = "none" if self.best_step is None else f"{self.best_score:g} at {unit} {self.best_step}"
            runner.logger.info(
                f"EarlyStoppingHook: training stops after {unit} {step}: {reason}; best {best}"
            )

    def _observe(self, value: float, step: int) -> str:
        """Count ``value``, the metric of the validation at ``step``; the reason to stop, or ``""``."""
        if self.check_finite and not math.isfinite(value):
            return f"{self.monitor} = {value} is not finite (check_finite)"
        threshold = self.stopping_threshold
        if threshold is not None and self._better(value, float(threshold)):
            self.best_score, self.best_step = value, step
            return f"{self.monitor} = {value:g} is {self.rule} than stopping_threshold {threshold:g}"
        sign = 1.0 if self.rule == "greater" else -1.0
        if math.isfinite(value) and not self._better(self.best_score + sign * self.min_delta, value):
            self.best_score, self.best_step, self.wait_count = value, step, 0
            return ""
        self.wait_count += 1
        if self.wait_count < self.patience:
            return ""
        return (
            f"{self.monitor} did not improve by min_delta {self.min_delta:g} in the last {self.wait_count}"
            f" validations (patience {self.patience})"
        )

    def _better(self, a: float, b: float) -> bool:
        return a > b if self.rule == "greater" else a < b

    def _missing(self, runner: RunnerView, metrics: Mapping[str, Any]) -> None:
        names = ", ".join(sorted(metrics)) or "none"
        message = f"EarlyStoppingHook monitors {self.monitor!r}, which is not among the validation metrics ({names})"
        suggestions = closest(self.monitor, metrics)
        if self.strict:
            key = hook_key(runner.cfg, "EarlyStoppingHook", monitor=self.monitor)
            raise ConfigError(
                message, file=runner.cfg.source, key=join_key(key or "", "monitor"), suggestions=suggestions
            )
        if not self._warned:  # MMEngine warns and skips; once is enough to be seen
            self._warned = True
            runner.logger.warning(
                f"{message}{did_you_mean(suggestions)}: early stopping skips these validations (strict = true"
                " makes it an error)"
            )

    # -- the counters in checkpoints --------------------------------------------------------------
    # A periodic checkpoint of a validated step is written before that validation, and a run resumed
    # from it does not repeat it; so the counters after each validation are also kept in the work
    # directory's HISTORY, by iteration, and such a resume takes them from there.
    def _state(self) -> dict[str, Any]:
        return {"wait_count": self.wait_count, "best_score": self.best_score, "best_step": self.best_step}

    def _record(self, runner: RunnerView) -> None:
        if runner.rank != 0:
            return
        path = Path(runner.work_dir) / HISTORY
        history = _read_history(path)
        history.setdefault(self.monitor, {})[str(runner.iter)] = self._state()
        ckpt.write_text_atomic(path, json.dumps(history))

    def before_train(self, runner: RunnerView) -> None:
        """Forget what the history holds after this run's start (a run that died, or an earlier run
        in the same work directory)."""
        path = Path(runner.work_dir) / HISTORY
        history = _read_history(path)
        kept = {k: v for k, v in history.get(self.monitor, {}).items() if int(k) <= runner.iter}
        if runner.rank == 0 and kept != history.get(self.monitor, kept):
            ckpt.write_text_atomic(path, json.dumps({**history, self.monitor: kept}))

    def before_save_checkpoint(self, runner: RunnerView, checkpoint: dict[str, Any]) -> None:
        checkpoint.setdefault(STATE_KEY, {})[self.monitor] = self._state()

    def after_load_checkpoint(self, runner: RunnerView, checkpoint: dict[str, Any]) -> None:
        """Resuming: the counters as saved. Loading weights (``load_from``) starts counting afresh."""
        if not runner.cfg.resume or runner.train_loop is None:
            return
        state = self._validated_at(runner, checkpoint["meta"]) or checkpoint.get(STATE_KEY, {}).get(
            self.monitor
        )
        if state is None:
            runner.logger.warning(
                f"EarlyStoppingHook: the checkpoint has no counters for {self.monitor!r} (saved without this"
                " hook): counting starts afresh"
            )
            return
        self.wait_count, self.best_score = int(state["wait_count"]), float(state["best_score"])
        self.best_step = state["best_step"]

    def _validated_at(self, runner: RunnerView, meta: Mapping[str, Any]) -> dict[str, Any] | None:
        """The counters after the validation at the checkpoint's own step, when the resumed loop will
        not repeat it (an iteration loop never does; an epoch loop does from inside an epoch)."""
        loop = runner.train_loop
        assert loop is not None  # resuming
        if loop.by_epoch and meta["epoch"] * len(loop.dataloader) != meta["iter"]:
            return None
        resume = runner.cfg.resume
        folder = Path(resume).parent if isinstance(resume, str) else Path(runner.work_dir)
        state: dict[str, Any] | None = (
            _read_history(folder / HISTORY).get(self.monitor, {}).get(str(meta["iter"]))
        )
        return state
