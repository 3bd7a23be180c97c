"""LoggerHook: one console line per ``interval`` iterations and a JSON line in ``scalars.jsonl``."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from customrun_core.errors import ConfigError
from customrun_core.hooks.base import Hook, Priority
from customrun_core.scalars import SCALARS_FILE, append_record

if TYPE_CHECKING:
    from customrun_core.hooks.runner_view import RunnerView

_TIMES = ("time", "data_time")


def _fmt(name: str, value: float) -> str:
    if name in ("lr", "base_lr") or name.endswith(".lr"):
        return f"{name}: {value:.4e}"
    return f"{name}: {value:.4f}"


class LoggerHook(Hook):
    """Logs training every ``interval`` iterations (and at the end of each epoch), and every
    validation or test result.

    Each logged train line holds the mean of each value over the window since the previous line
    (MMEngine's smoothing), the latest lr, the ETA and the iteration time. The same values go to
    ``WORK_DIR/scalars.jsonl`` as one JSON object per line (:mod:`customrun_core.scalars`):
    ``mode``, ``step`` (finished iterations), ``epoch``, then the values (``lr``, ``loss``, ...,
    or the metrics). Rank 0 writes the file and then fires ``after_log_record`` with each record
    as it is (non-finite values included), so that other back-ends (the TensorBoardLoggerHook,
    ...) log exactly these values at these steps without reading the scalar buffer again.
    """

    priority = Priority.BELOW_NORMAL

    def __init__(self, interval: int = 10, ignore_last: bool = False) -> None:
        if interval < 1:
            raise ConfigError(f"expected an integer >= 1, got {interval}", key="interval")
        self.interval, self.ignore_last = interval, ignore_last
        self._length_of_epoch, self._epoch_length = -1, 0

    def after_train_iter(
        self, runner: RunnerView, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        loop = runner.train_loop
        assert loop is not None  # set while training
        by_epoch = getattr(loop, "by_epoch", True)
        if by_epoch:
            if self._length_of_epoch != runner.epoch:  # len(dataloader) once an epoch, not every iteration
                self._length_of_epoch, self._epoch_length = runner.epoch, len(loop.dataloader)
            due = self.every_n_inner_iters(batch_idx, self.interval) or (
                not self.ignore_last and batch_idx + 1 == self._epoch_length
            )
        else:
            due = self.every_n_train_iters(runner, self.interval) or self.is_last_train_iter(runner)
        if not due:
            return
        values = runner.scalars.flush()
        for name in ("lr", "base_lr"):
            latest = runner.scalars.latest(name)
            if latest is not None:
                values[name] = latest
        step = runner.iter + 1
        if by_epoch:
            head = f"Epoch(train) [{runner.epoch + 1}][{batch_idx + 1:>{len(str(len(loop.dataloader)))}}/{len(loop.dataloader)}]"
        else:
            head = f"Iter(train) [{step:>{len(str(runner.max_iters))}}/{runner.max_iters}]"
        parts = [head]
        mean_time = values.get("time")
        if mean_time is not None:
            eta = datetime.timedelta(seconds=round(mean_time * (runner.max_iters - step)))
            parts.append(f"eta: {eta}")
        parts += [_fmt(k, v) for k, v in values.items() if k not in _TIMES]
        parts += [_fmt(k, values[k]) for k in _TIMES if k in values]
        runner.logger.info("  ".join(parts))
        self._write(runner, {"mode": "train", "step": step, "epoch": runner.epoch + 1, **values})

    def after_val_epoch(self, runner: RunnerView, metrics: dict | None = None) -> None:
        self._log_metrics(runner, "val", metrics or {})

    def after_test_epoch(self, runner: RunnerView, metrics: dict | None = None) -> None:
        self._log_metrics(runner, "test", metrics or {})

    def _log_metrics(self, runner: RunnerView, mode: str, metrics: dict) -> None:
        loop = getattr(runner, f"{mode}_loop")
        n = len(loop.dataloader)
        line = "  ".join(
            [f"Epoch({mode}) [{runner.epoch}][{n}/{n}]", *(_fmt(k, float(v)) for k, v in metrics.items())]
        )
        runner.logger.info(line)
        self._write(
            runner,
            {
                "mode": mode,
                "step": runner.iter,
                "epoch": runner.epoch,
                **{k: float(v) for k, v in metrics.items()},
            },
        )

    def _write(self, runner: RunnerView, record: dict[str, Any]) -> None:
        """On rank 0, append ``record`` to ``scalars.jsonl``, then fire ``after_log_record`` with it."""
        if runner.rank != 0:
            return
        append_record(runner.work_dir / SCALARS_FILE, record)
        runner.call_hook("after_log_record", record=record)
