"""LoggerHook: one console line per ``interval`` iterations and a JSON line in ``scalars.jsonl``."""

from __future__ import annotations

import datetime
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from customrun_core.errors import ConfigError
from customrun_core.hooks.base import Hook, Priority
from customrun_core.hooks.best import MARKER
from customrun_core.hooks.summary import MetricHistory, read_marker
from customrun_core.run_log import console_text, copy_logs, log_files
from customrun_core.scalars import SCALARS_FILE, append_record

if TYPE_CHECKING:
    from customrun_core.hooks.runner_view import RunnerView

_TIMES = ("time", "data_time")
# MMEngine's out_suffix default, plus the suffixes of customrun's own logs (scalars.jsonl, config.toml).
OUT_SUFFIX = (".json", ".log", ".py", "yaml", ".jsonl", ".toml")
_STORAGE_ARGS = "customrun copies logs to out_dir through the local file system; it has no storage back-ends"


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
    When training ends it logs one summary line: the leading validation metric's last and best
    value (:mod:`customrun_core.hooks.summary`).

    The arguments are MMEngine's LoggerHook's; two defaults differ, so that a run logs as it always has.

    Args:
        interval: log every ``interval`` training iterations.
        ignore_last: in an epoch-based run, leave out the last window of an epoch when it is shorter
            than ``interval`` (MMEngine's default is true; customrun's false logs each epoch's end).
        interval_exp_name: log ``Exp name: <work_dir's name> (config <file>)`` every
            ``interval_exp_name`` iterations; 0 never. MMEngine also logs it at the end of every epoch,
            which with short epochs repeats it every few lines; customrun does not.
        out_dir: after each run, copy the log files to ``out_dir/<work_dir's name>/`` (a local
            directory; MMEngine's storage URIs are refused).
        out_suffix: which files of the work directory (recursively) are copied: those whose names end
            with one of these (MMEngine's default, plus ``.jsonl`` and ``.toml``).
        keep_local: with ``out_dir``, whether the copied files stay in the work directory.
        file_client_args: MMEngine's storage back-end of ``out_dir``: accepted, and one warning.
        log_metric_by_epoch: whether a validation record's ``step`` (in scalars.jsonl, so in
            TensorBoard and every tracker) is the epoch instead of the finished iterations. MMEngine's
            default is true, which puts validation and training on different x axes; customrun's is
            false. An iteration-based run counts iterations whatever this says (MMEngine would log every
            validation at step 0), with one warning.
        backend_args: as ``file_client_args`` (MMEngine's newer name); both at once is an error.
    """

    priority = Priority.BELOW_NORMAL

    def __init__(
        self,
        interval: int = 10,
        ignore_last: bool = False,
        interval_exp_name: int = 1000,
        out_dir: str | None = None,
        out_suffix: str | Sequence[str] = OUT_SUFFIX,
        keep_local: bool = True,
        file_client_args: dict[str, Any] | None = None,
        log_metric_by_epoch: bool = False,
        backend_args: dict[str, Any] | None = None,
    ) -> None:
        for key, value, least in (("interval", interval, 1), ("interval_exp_name", interval_exp_name, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ConfigError(f"expected an integer >= {least}, got {value!r}", key=key)
        if file_client_args is not None and backend_args is not None:
            raise ConfigError(
                "expected file_client_args or backend_args (MMEngine's old and new name), got both",
                key="backend_args",
            )
        if out_dir is not None and "://" in out_dir:
            raise ConfigError(f"expected a local directory, got {out_dir!r}: {_STORAGE_ARGS}", key="out_dir")
        self.interval, self.ignore_last, self.interval_exp_name = interval, ignore_last, interval_exp_name
        self.out_dir = out_dir
        self.out_suffix = (out_suffix,) if isinstance(out_suffix, str) else tuple(out_suffix)
        self.keep_local, self.log_metric_by_epoch = keep_local, log_metric_by_epoch
        self._warnings = [
            f"LoggerHook: {name} is ignored: {_STORAGE_ARGS}"
            for name, value in (("file_client_args", file_client_args), ("backend_args", backend_args))
            if value is not None
        ]
        self._length_of_epoch, self._epoch_length = -1, 0
        self.history = MetricHistory()
        self._started, self._resumed = 0.0, False  # when this training began; whether it resumed

    def before_run(self, runner: RunnerView) -> None:
        for message in self._warnings:  # once: a runner's train() then test() does not repeat them
            runner.logger.warning(message)
        self._warnings = []

    def before_train(self, runner: RunnerView) -> None:
        by_epoch = getattr(runner.train_loop, "by_epoch", True)
        if self.log_metric_by_epoch and not by_epoch:
            runner.logger.warning(
                "LoggerHook: log_metric_by_epoch = true in an iteration-based run: validation records are "
                "logged at their iteration (MMEngine would log every one at epoch 0)"
            )
        self.history = MetricHistory("epoch" if by_epoch else "iter")
        self._started, self._resumed = time.time(), runner.iter > 0
        if runner.iter > 0:  # resumed: the validations before the checkpoint count for the best
            self.history.replay(
                Path(runner.work_dir) / SCALARS_FILE, runner.epoch if by_epoch else runner.iter
            )

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
        if self.every_n_train_iters(runner, self.interval_exp_name):  # n = 0: never
            runner.logger.info(f"Exp name: {Path(runner.work_dir).name} (config {runner.cfg.source})")
        if due:
            self._log_train(runner, batch_idx, by_epoch)

    def _log_train(self, runner: RunnerView, batch_idx: int, by_epoch: bool) -> None:
        loop = runner.train_loop
        assert loop is not None  # set while training
        values = runner.scalars.flush()
        for name in ("lr", "base_lr"):
            latest = runner.scalars.latest(name)
            if latest is not None:
                values[name] = latest
        step = runner.iter + 1
        if by_epoch:
            n = len(loop.dataloader)
            head = f"Epoch(train) [{runner.epoch + 1}][{batch_idx + 1:>{len(str(n))}}/{n}]"
        else:
            head = f"Iter(train) [{step:>{len(str(runner.max_iters))}}/{runner.max_iters}]"
        # MMEngine's order: lr, eta (of the whole run), time, data_time, then the losses and the rest
        parts: dict[str, str] = {k: _fmt(k, values[k]) for k in ("lr", "base_lr") if k in values}
        mean_time = values.get("time")
        if mean_time is not None:
            parts["eta"] = f"eta: {datetime.timedelta(seconds=round(mean_time * (runner.max_iters - step)))}"
        parts |= {k: _fmt(k, values[k]) for k in _TIMES if k in values}
        parts |= {k: _fmt(k, v) for k, v in values.items() if k not in parts}
        short = [text for k, text in parts.items() if k != "data_time"]  # the console's 100 columns
        runner.logger.info("  ".join([head, *parts.values()]), extra=console_text("  ".join([head, *short])))
        self._write(runner, {"mode": "train", "step": step, "epoch": runner.epoch + 1, **values})

    def after_val_epoch(self, runner: RunnerView, metrics: dict | None = None) -> None:
        metrics = metrics or {}
        loop = getattr(runner, "train_loop", None)  # None in a run that only validates
        by_epoch = getattr(loop, "by_epoch", True)
        if loop is not None:
            self.history.add(metrics, runner.epoch if by_epoch else runner.iter)
        step = runner.epoch if self.log_metric_by_epoch and by_epoch else runner.iter
        self._log_metrics(runner, "val", metrics, step)

    def after_test_epoch(self, runner: RunnerView, metrics: dict | None = None) -> None:
        self._log_metrics(runner, "test", metrics or {}, runner.iter)

    def after_train(self, runner: RunnerView) -> None:
        unit = self.history.unit
        where = f"{unit} {runner.epoch if unit == 'epoch' else runner.iter}"
        results = self.history.describe(self._best_checkpoints(runner), Path(runner.work_dir))
        runner.logger.info(f"training ended at {where}: " + (results or "no validation ran"))

    def _best_checkpoints(self, runner: RunnerView) -> dict[str, dict[str, Any]]:
        """The CheckpointHook's best checkpoints (its ``save_best``), if this run wrote or resumed them:
        a marker older than this training is another run's."""
        try:
            fresh = self._resumed or (Path(runner.work_dir) / MARKER).stat().st_mtime >= self._started
        except OSError:  # no save_best
            return {}
        return read_marker(Path(runner.work_dir)) if fresh else {}

    def after_run(self, runner: RunnerView) -> None:
        if self.out_dir is None or runner.rank != 0:
            return
        work_dir = Path(runner.work_dir)
        out_dir = Path(self.out_dir) / work_dir.resolve().name  # MMEngine's out_dir/<work_dir's name>
        inside = out_dir.resolve()
        files = [
            f
            for f in log_files(work_dir, self.out_suffix)
            if not (work_dir / f).resolve().is_relative_to(inside)
        ]
        kept = "kept" if self.keep_local else "removed"
        runner.logger.info(f"copying {len(files)} log files to {out_dir} (the local ones are {kept})")
        for handler in runner.logger.handlers:
            handler.flush()  # run.log whole in its copy
        copy_logs(work_dir, out_dir, files, self.keep_local)

    def _log_metrics(self, runner: RunnerView, mode: str, metrics: dict, step: int) -> None:
        loop = getattr(runner, f"{mode}_loop")
        n = len(loop.dataloader)
        # An iteration run names the iteration (its epoch is 0 until the end); MMEngine's names none.
        by_epoch = getattr(getattr(runner, "train_loop", None), "by_epoch", True)
        head = f"Epoch({mode}) [{runner.epoch}]" if by_epoch else f"Iter({mode}) [{runner.iter}]"
        line = "  ".join([f"{head}[{n}/{n}]", *(_fmt(k, float(v)) for k, v in metrics.items())])
        runner.logger.info(line)
        self._write(
            runner,
            {"mode": mode, "step": step, "epoch": runner.epoch, **{k: float(v) for k, v in metrics.items()}},
        )

    def _write(self, runner: RunnerView, record: dict[str, Any]) -> None:
        """On rank 0, append ``record`` to ``scalars.jsonl``, then fire ``after_log_record`` with it."""
        if runner.rank != 0:
            return
        append_record(runner.work_dir / SCALARS_FILE, record)
        runner.call_hook("after_log_record", record=record)
