"""LoggerHook: one console line per ``interval`` iterations and a JSON line in ``scalars.jsonl``."""

from __future__ import annotations

import datetime
import json
import math
from typing import Any

from customrun_core.errors import ConfigError
from customrun_core.hooks.base import Hook, Priority

SCALARS_FILE = "scalars.jsonl"
RECORD_KEYS = ("mode", "step", "epoch")  # a record's bookkeeping; every other entry is a value
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
    ``WORK_DIR/scalars.jsonl`` as one JSON object per line: ``mode``, ``step`` (finished
    iterations), ``epoch``, then the values (``lr``, ``loss``, ..., or the metrics). Each record
    is then handed, as it is (non-finite values included), to every callable in
    ``runner.log_sinks`` (the TensorBoardLoggerHook's writer, ...): other back-ends log exactly
    these values at these steps without reading the scalar buffer again.
    """

    priority = Priority.BELOW_NORMAL

    def __init__(self, interval: int = 10, ignore_last: bool = False) -> None:
        if interval < 1:
            raise ConfigError(f"expected an integer >= 1, got {interval}", key="interval")
        self.interval, self.ignore_last = interval, ignore_last
        self._length_of_epoch, self._epoch_length = -1, 0

    def after_train_iter(
        self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        loop = runner.train_loop
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

    def after_val_epoch(self, runner: Any, metrics: dict | None = None) -> None:
        self._log_metrics(runner, "val", metrics or {})

    def after_test_epoch(self, runner: Any, metrics: dict | None = None) -> None:
        self._log_metrics(runner, "test", metrics or {})

    def _log_metrics(self, runner: Any, mode: str, metrics: dict) -> None:
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

    def _write(self, runner: Any, record: dict[str, Any]) -> None:
        if runner.rank != 0 or runner.work_dir is None:
            return
        # Strict JSON has no Infinity or NaN: a non-finite value (a skipped AMP step's grad_norm,
        # a diverged loss) is written as null.
        clean = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in record.items()}
        with open(runner.work_dir / SCALARS_FILE, "a", encoding="utf-8") as f:
            f.write(json.dumps(clean) + "\n")
        for sink in getattr(runner, "log_sinks", ()):  # a runner-like object in a test may have none
            sink(record)
