"""TensorBoardLoggerHook: what the LoggerHook logs, also as TensorBoard scalars.

Needs the optional extra ``pip install 'customrun-core[tensorboard]'``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from customrun_core.errors import ConfigError
from customrun_core.hooks.base import Hook, Priority
from customrun_core.scalars import RECORD_KEYS

if TYPE_CHECKING:
    from customrun_core.hooks.runner_view import RunnerView

INSTALL_HINT = "pip install 'customrun-core[tensorboard]'"


class TensorBoardLoggerHook(Hook):
    """Writes every record the LoggerHook writes to ``scalars.jsonl`` as TensorBoard scalars, at the
    record's ``step``, tagged ``<mode>/<name>`` (``train/loss``, ``train/lr``, ``val/accuracy/top1``).

    It implements ``after_log_record``, which the LoggerHook fires with each record it writes, so
    the values are exactly the logged ones (the window means of training values, the validation
    and test metrics) and no hook point runs per iteration: a run pays only for the lines it logs.
    Event files go to ``log_dir`` (a relative path is inside the work directory, and one that
    leaves it, ``../x``, is refused; an absolute path is taken as it is; default
    ``WORK_DIR/tensorboard``), written by rank 0 only, flushed and closed in ``after_run``, after
    an error too. A NaN or infinite value is written as it is. A resumed run hides (TensorBoard's
    ``purge_step``) what an earlier run logged after the resumed checkpoint. When training ends
    and not one record has come (``default_hooks.logger = false``, or a logger that does not fire
    ``after_log_record``), ``after_run`` logs one warning saying that nothing was written.

    Args:
        log_dir: where the event files go.
        flush_secs: how often TensorBoard's writer flushes on its own, in seconds.

    Raises:
        ConfigError: when tensorboard is not installed (when the hook is built, before training).
    """

    priority = Priority.BELOW_NORMAL

    def __init__(self, log_dir: str = "tensorboard", flush_secs: int = 30) -> None:
        if flush_secs < 1:
            raise ConfigError(f"expected an integer >= 1, got {flush_secs}", key="flush_secs")
        if not Path(log_dir).is_absolute() and os.path.normpath(log_dir).split(os.sep)[0] == os.pardir:
            raise ConfigError(
                f"expected a path inside the work directory or an absolute path, got {log_dir!r},"
                " which leaves the work directory",
                key="log_dir",
            )
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError(
                f"TensorBoardLoggerHook needs tensorboard, which is not installed: {INSTALL_HINT}"
            ) from None
        self._writer_class = SummaryWriter
        self.log_dir, self.flush_secs = log_dir, flush_secs
        self._writer: Any = None  # created with the first record
        self._path: Path | None = None  # this run's event directory, on rank 0
        self._purge_step: int | None = None
        self._records = 0  # received in this run
        self._trained = False  # this run's training ended (normally or stopped by a signal)

    def before_run(self, runner: RunnerView) -> None:
        if runner.rank != 0:
            return
        self._path = Path(runner.work_dir) / self.log_dir
        self._purge_step, self._records, self._trained = None, 0, False

    def before_train(self, runner: RunnerView) -> None:
        # A resumed run logs again the steps after its checkpoint, which the interrupted run may
        # have logged: TensorBoard's purge_step hides those older events (scalars.jsonl keeps both).
        if runner.iter > 0 and self._writer is None:
            self._purge_step = runner.iter + 1

    def after_log_record(self, runner: RunnerView, record: Mapping[str, Any]) -> None:
        """Add one LoggerHook record (``mode``, ``step``, ``epoch``, values) as scalars."""
        if self._path is None:
            return
        if self._writer is None:  # now, not in before_run: a resume has set the purge step by now
            self._writer = self._writer_class(
                log_dir=str(self._path), flush_secs=self.flush_secs, purge_step=self._purge_step
            )
        mode, step = record["mode"], record["step"]
        for name, value in record.items():
            if name not in RECORD_KEYS:  # every other entry is a float
                self._writer.add_scalar(f"{mode}/{name}", value, step)
        self._records += 1

    def after_train(self, runner: RunnerView) -> None:
        self._trained = True

    def after_run(self, runner: RunnerView) -> None:
        if self._path is None:
            return
        if self._trained and not self._records:
            runner.logger.warning(
                f"TensorBoardLoggerHook received no record, so nothing was written to {self._path}:"
                " it writes what the LoggerHook logs (is default_hooks.logger = false?)"
            )
        writer, self._writer, self._path = self._writer, None, None
        if writer is not None:
            writer.flush()
            writer.close()
