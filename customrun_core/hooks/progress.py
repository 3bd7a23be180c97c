"""The console progress bar: one rich bar per epoch (or per validation window of an iteration-based
run), with iterations/s, ETA, the current loss and lr, and the last validation result.

:class:`ProgressBarHook` is the default hook ``default_hooks.progress``. Whether it is shown is its
``show`` argument, which the config's top-level ``progress`` key sets unless ``default_hooks.progress``
is given (see :func:`customrun_core.hooks.defaults.progress_setting`); where it is not shown (not a
terminal, CI, pytest, a rank other than 0) it is not registered at all (:meth:`ProgressBarHook.wanted`),
so a run that does not show it pays nothing. While it is on, the run's console log lines go
through the bar's console (printed above the bar, as plain text), and ``run.log`` is written as always.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any, Literal

from customrun_core.errors import ConfigError
from customrun_core.hooks.base import Hook, Priority
from customrun_core.hooks.summary import leading_metric
from customrun_core.run_log import STDOUT_HANDLER

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, Task

    from customrun_core.hooks.runner_view import RunnerView

# Set (non-empty, not "0"/"false") by CI services; a bar's control codes only clutter their logs.
CI_VARIABLES = (
    "CI",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "BUILDKITE",
    "JENKINS_URL",
    "TF_BUILD",
    "TEAMCITY_VERSION",
    "PYTEST_CURRENT_TEST",  # pytest sets it during every test: tests never draw bars
)


def progress_wanted(
    setting: bool | str, stream: IO[str] | None = None, environ: Mapping[str, str] | None = None
) -> bool:
    """Whether the bar is shown for ``setting`` (``ProgressBarHook``'s ``show``, from the config).

    ``True`` and ``False`` decide; ``"auto"`` means: only when ``stream`` (stdout) is a terminal, no
    CI variable (:data:`CI_VARIABLES`) is set in ``environ`` and ``TERM`` is not ``dumb``.
    """
    if setting != "auto":
        return bool(setting)
    stream = sys.stdout if stream is None else stream
    environ = os.environ if environ is None else environ
    if any(environ.get(name, "").strip().lower() not in ("", "0", "false") for name in CI_VARIABLES):
        return False
    if environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty())


class ConsoleLogHandler(logging.Handler):
    """Writes each formatted log record through a rich console, so that it appears above a live bar.

    The line is printed as it is: no markup, no highlighting, no wrapping, the same text a plain
    stream handler writes.
    """

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        from rich.text import Text

        try:
            self.console.print(Text(self.format(record)), soft_wrap=True)
        except Exception:  # what logging.StreamHandler does: a broken console must not end the run
            self.handleError(record)


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None or not math.isfinite(value) else format(value, spec)


def _columns() -> tuple[Any, ...]:
    from rich.progress import BarColumn, MofNCompleteColumn, ProgressColumn, TextColumn, TimeRemainingColumn
    from rich.table import Column
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{_number(speed, '.1f')} it/s")

    class ValuesColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            loss, lr = task.fields.get("loss"), task.fields.get("lr")
            text = f"loss {_number(loss, '.4f')}  lr {_number(lr, '.4g')}"  # lr 0.1, lr 1e-05
            metric = task.fields.get("metric")
            if metric is not None:  # (name, value) of the last validation
                text += f"  val {metric[0]} {_number(metric[1], '.4f')}"
            return Text(text)

    # The bar gives up its width first (24 columns at most, 4 at least), so that the numbers fit a
    # 100-column terminal; text is cut, never wrapped onto a second line under the bar.
    def text() -> Column:
        return Column(no_wrap=True, overflow="ellipsis")

    return (
        TextColumn("{task.description}", table_column=text()),
        BarColumn(bar_width=None, table_column=Column(min_width=4, max_width=24)),
        MofNCompleteColumn(table_column=text()),
        RateColumn(table_column=text()),
        TextColumn("{task.fields[eta]}", table_column=text()),  # what the bar's ETA counts to
        TimeRemainingColumn(table_column=text()),
        ValuesColumn(table_column=text()),
    )


class ProgressBarHook(Hook):
    """Draws the training progress on the terminal: the default hook ``default_hooks.progress``.

    A bar covers one epoch of an epoch-based loop, or, in an iteration-based one, the iterations up
    to the next validation (the whole run without validation). The bar's ``loss`` and ``lr`` fields
    are ``runner.scalars``' latest values (the last iteration's, the lr that step used); they and
    the count are updated at most once every ``refresh_interval`` seconds and at the end of each
    bar, so reading a loss tensor (a GPU sync) happens a few times a second, not every iteration.
    After the first validation, the bars also show its leading metric's last value (``val
    accuracy/top1 81.2500``; the metric :func:`customrun_core.hooks.summary.leading_metric` picks).
    A finished bar stays until the next one starts; all are gone when training ends.

    From ``before_run`` to ``after_run`` (after an error too) the run's console log lines go
    through the bar's console, so that they appear above the bar: the hook swaps the logger's
    stdout handler (:data:`~customrun_core.run_log.STDOUT_HANDLER`) for a
    :class:`ConsoleLogHandler` and puts it back.

    Args:
        show: ``"auto"``: only where :func:`progress_wanted` finds a terminal; ``true``: always,
            with terminal control codes even where none is detected; ``false``: never.
        refresh_interval: the least time between two updates of the bar, in seconds.
    """

    priority = Priority.LOW  # after RuntimeInfoHook and IterTimerHook have recorded the step

    def __init__(self, show: bool | Literal["auto"] = "auto", refresh_interval: float = 0.25) -> None:
        if refresh_interval < 0:
            raise ConfigError(f"expected a number >= 0, got {refresh_interval}", key="refresh_interval")
        self.show, self.refresh_interval = show, refresh_interval
        self.console: Console | None = None  # made in before_run, unless given (drawing_on)
        self.progress: Progress | None = None
        self._task: Any = None
        self._start = self._end = 0  # the current bar's iterations [start, end)
        self._next_update = 0.0
        self._swapped: tuple[logging.Handler, logging.Handler] | None = None  # (stdout's, ours)
        self._metric: tuple[str, float] | None = None  # the last validation's leading metric

    @classmethod
    def drawing_on(cls, console: Console, refresh_interval: float = 0.25) -> ProgressBarHook:
        """A bar drawn on ``console`` whatever the output is (tests; a run inside a rich app)."""
        hook = cls(show=True, refresh_interval=refresh_interval)
        hook.console = console
        return hook

    def wanted(self, rank: int) -> bool:
        """Only rank 0 draws, and only where ``show`` says so: else the hook is not registered."""
        return rank == 0 and progress_wanted(self.show)

    def before_run(self, runner: RunnerView) -> None:
        if self.console is None:
            from rich.console import Console

            # show = true forces terminal output even where rich would not detect a terminal (an
            # IDE's console, a CI log viewer that renders ANSI codes): the user asked for the bar.
            self.console = Console(force_terminal=True if self.show is True else None, highlight=False)
        self._attach(runner.logger, self.console)

    def before_train(self, runner: RunnerView) -> None:
        from rich.progress import Progress

        self.progress = Progress(*_columns(), console=self.console, transient=True, refresh_per_second=4)
        self.progress.start()
        self._task, self._end, self._metric = None, -1, None

    def before_train_iter(self, runner: RunnerView, batch_idx: int, data_batch: Any = None) -> None:
        if runner.iter >= self._end:  # the first iteration, or the previous bar is full
            self._open(runner)

    def after_train_iter(
        self, runner: RunnerView, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        done = runner.iter + 1
        now = time.monotonic()
        if now < self._next_update and done != self._end:
            return
        self._next_update = now + self.refresh_interval
        assert self.progress is not None
        self.progress.update(
            self._task,
            completed=done - self._start,
            loss=runner.scalars.latest("loss"),
            lr=runner.scalars.latest("lr"),
        )
        if done == self._end:
            self.progress.refresh()  # the bar's final state is drawn even if training stops here

    def after_val_epoch(self, runner: RunnerView, metrics: dict | None = None) -> None:
        lead = leading_metric(metrics or {})
        if self.progress is None or lead is None:  # a run that only validates has no bar
            return
        name = lead[0] if self._metric is None else self._metric[0]  # the same metric all along
        if metrics and name in metrics:
            self._metric = (name, float(metrics[name]))
            if self._task is not None:
                self.progress.update(self._task, metric=self._metric)

    def after_train(self, runner: RunnerView) -> None:
        self._close()

    def after_run(self, runner: RunnerView) -> None:
        self._close()  # after an error too: the terminal gets its cursor back
        self._detach(runner.logger)

    def _open(self, runner: RunnerView) -> None:
        """Replace the finished bar with the next one, from ``runner.iter``."""
        assert self.progress is not None and runner.train_loop is not None
        if self._task is not None:
            self.progress.remove_task(self._task)
        loop = runner.train_loop
        self._start = runner.iter
        if loop.by_epoch:
            length = runner.max_iters // runner.max_epochs  # a loop that cuts its epochs short too
            self._end = (runner.epoch + 1) * length
            description = f"Epoch {runner.epoch + 1}/{runner.max_epochs}"
            first = self._start - runner.epoch * length  # > 0 when resumed inside the epoch
            eta = "epoch eta"
        else:
            total = runner.max_iters  # to the loop's next validation (its own rule), else to the end
            validations = (d for d in range(self._start + 1, total) if loop.should_validate(d, total))
            self._end = next(validations, total)
            description = f"Iter {self._start + 1}-{self._end}/{runner.max_iters}"
            first = 0
            eta = "run eta" if self._end == total else "eta to val"
        self._start -= first
        self._task = self.progress.add_task(
            description,
            total=self._end - self._start,
            completed=first,
            loss=None,
            lr=None,
            metric=self._metric,
            eta=eta,
        )
        self._next_update = 0.0

    def _close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def _attach(self, logger: logging.Logger, console: Console) -> None:
        """Put a :class:`ConsoleLogHandler` where the logger's stdout handler is (same format, level)."""
        handlers = logger.handlers
        index = next((i for i, h in enumerate(handlers) if h.get_name() == STDOUT_HANDLER), None)
        if index is None or self._swapped is not None:
            return
        stdout = handlers[index]
        ours = ConsoleLogHandler(console)
        ours.setFormatter(stdout.formatter)
        ours.setLevel(stdout.level)
        for kept in stdout.filters:  # the lines meant for run.log only stay off the console
            ours.addFilter(kept)
        handlers[index] = ours
        self._swapped = (stdout, ours)

    def _detach(self, logger: logging.Logger) -> None:
        """Put the stdout handler back where :meth:`_attach` put ours."""
        if self._swapped is None:
            return
        stdout, ours = self._swapped
        self._swapped = None
        handlers = logger.handlers
        if ours in handlers:
            handlers[handlers.index(ours)] = stdout
        else:  # a hook removed ours: the console must not stay silent
            logger.addHandler(stdout)
