"""ProfilerHook: torch.profiler over the first iterations (or the first epoch) of training, written as
a trace that Chrome (``chrome://tracing``), Perfetto (ui.perfetto.dev) and TensorBoard open
(MMEngine's hook of that name, with its arguments)."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.profiler
from torch.autograd.profiler_util import EventList

from customrun_core.build import join_key
from customrun_core.errors import ConfigError, closest, describe
from customrun_core.hooks.base import Hook, Priority
from customrun_core.hooks.defaults import hook_key

if TYPE_CHECKING:
    from customrun_core.hooks.runner_view import RunnerView

# Where the trace goes when neither json_trace_path nor on_trace_ready says (inside the work dir).
DEFAULT_TRACE = "profiler_trace.json"
# Where tb_trace writes without a dir_name (MMEngine's folder name, inside the work dir).
TB_TRACE_DIR = "tf_tracing_logs"
# on_trace_ready's types (MMEngine's) and the callables whose arguments the rest of the table is.
TRACE_TYPES: dict[str, Callable[..., Any]] = {
    "log_trace": EventList.table,
    "tb_trace": torch.profiler.tensorboard_trace_handler,
}


def _arguments(target: Callable[..., Any], given: Mapping[str, Any], key: str, skip: tuple[str, ...]) -> None:
    """Refuse a key of ``given`` that ``target`` does not take, in one line naming the closest."""
    names = [n for n in inspect.signature(target).parameters if n not in ("self", *skip)]
    for name in given:
        if name not in names:
            raise ConfigError(
                f"unknown argument (expected one of {', '.join(names)})",
                key=f"{key}.{name}",
                suggestions=closest(name, names),
            )


def _schedule(schedule: Mapping[str, Any]) -> Callable[[int], Any]:
    """``torch.profiler.schedule(**schedule)``, its mistakes as one line at ``schedule``."""
    _arguments(torch.profiler.schedule, schedule, "schedule", ())
    for name, value in schedule.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ConfigError(f"expected an integer >= 0, got {describe(value)}", key=f"schedule.{name}")
    try:
        return torch.profiler.schedule(**schedule)
    except (TypeError, ValueError, AssertionError) as error:
        raise ConfigError(f"torch.profiler.schedule refuses it: {error}", key="schedule") from None


def _check_trace_config(on_trace_ready: Any) -> None:
    if on_trace_ready is None or callable(on_trace_ready):
        return
    if not isinstance(on_trace_ready, Mapping):
        raise ConfigError(
            f"expected a table with type = 'log_trace' or 'tb_trace', got {describe(on_trace_ready)}",
            key="on_trace_ready",
        )
    kind = on_trace_ready.get("type")
    if kind not in TRACE_TYPES:
        raise ConfigError(
            f"expected 'log_trace' or 'tb_trace', got {describe(kind)}",
            key="on_trace_ready.type",
            suggestions=closest(str(kind), TRACE_TYPES),
        )
    rest = {k: v for k, v in on_trace_ready.items() if k != "type"}
    _arguments(TRACE_TYPES[kind], rest, "on_trace_ready", ())


class ProfilerHook(Hook):
    """Profiles training with ``torch.profiler`` and writes the trace into the work directory.

    The profiler starts in ``before_train`` (after a resume has loaded its checkpoint) and stops
    after ``profile_times`` iterations (``by_epoch = false``) or at the end of the first epoch
    (``by_epoch = true``, MMEngine's default), or when training ends sooner. Each profiled iteration
    is a ``ProfilerStep#N`` span (``N`` = the run's iteration), as TensorBoard's profiler expects.
    Unless ``on_trace_ready`` says otherwise, the Chrome-format trace goes to ``json_trace_path``
    (default ``profiler_trace.json``; a relative path is inside the work directory, where MMEngine
    takes it from the current directory and writes nothing by default). Rank 0 only, as MMEngine.

    Args:
        by_epoch: profile the first epoch (true; with an ``IterBasedTrainLoop``, its one epoch: the
            whole run) or the first ``profile_times`` iterations.
        profile_times: how many epochs (only 1, as MMEngine) or iterations to profile.
        activity_with_cpu: record CPU activity.
        activity_with_cuda: record CUDA kernels (ignored, with a warning, without CUDA).
        schedule: arguments of ``torch.profiler.schedule`` (``wait``, ``warmup``, ``active``,
            ``repeat``, ``skip_first``): which of the profiled iterations are recorded.
        on_trace_ready: ``{type = "tb_trace", dir_name = ..., worker_name = ..., use_gzip = ...}``
            writes TensorBoard profiler traces (default dir ``tf_tracing_logs`` in the work dir);
            ``{type = "log_trace", sort_by = ..., row_limit = ...}`` logs the table of operators;
            from Python, any callable taking the profiler.
        record_shapes: record operators' input shapes.
        profile_memory: record tensor memory allocations.
        with_stack: record the source line of each operator.
        with_flops: estimate the FLOPs of matrix multiplications and convolutions.
        json_trace_path: where the Chrome-format trace goes (``.json`` or ``.json.gz``).

    Raises:
        ConfigError: ``profile_times`` < 1 (or > 1 with ``by_epoch``), no activity, an unknown
            ``schedule`` or ``on_trace_ready`` key; in ``before_train``, ``profile_times`` above the
            run's epochs (iterations).
    """

    priority = Priority.VERY_LOW

    def __init__(
        self,
        *,
        by_epoch: bool = True,
        profile_times: int = 1,
        activity_with_cpu: bool = True,
        activity_with_cuda: bool = False,
        schedule: dict[str, int] | None = None,
        on_trace_ready: Callable[..., Any] | dict[str, Any] | None = None,
        record_shapes: bool = False,
        profile_memory: bool = False,
        with_stack: bool = False,
        with_flops: bool = False,
        json_trace_path: str | None = None,
    ) -> None:
        if profile_times < 1:
            raise ConfigError(f"expected an integer >= 1, got {profile_times}", key="profile_times")
        if by_epoch and profile_times > 1:
            raise ConfigError(
                f"profiling {profile_times} epochs is refused, as MMEngine does (the profiler slows"
                " training down): profile 1 epoch, or set by_epoch = false to count iterations",
                key="profile_times",
            )
        if not (activity_with_cpu or activity_with_cuda):
            raise ConfigError(
                "nothing to profile: set activity_with_cpu or activity_with_cuda", key="activity_with_cpu"
            )
        _check_trace_config(on_trace_ready)
        self.by_epoch, self.profile_times = by_epoch, profile_times
        self.activity_with_cpu, self.activity_with_cuda = activity_with_cpu, activity_with_cuda
        self.schedule = None if schedule is None else _schedule(schedule)
        self.on_trace_ready, self.json_trace_path = on_trace_ready, json_trace_path
        self.record_shapes, self.profile_memory = record_shapes, profile_memory
        self.with_stack, self.with_flops = with_stack, with_flops
        self._profiler: Any = None  # while profiling
        self._step: Any = None  # the open ProfilerStep#N span (without a schedule)
        self._left = 0  # iterations still to profile (by_epoch = false)
        self._first: int | None = None  # the first and last profiled iterations
        self._last: int | None = None

    def wanted(self, rank: int) -> bool:
        return rank == 0  # MMEngine's master_only: one trace per run

    # -- the window --------------------------------------------------------------------------------
    def before_train(self, runner: RunnerView) -> None:
        total = runner.max_epochs if self.by_epoch else runner.max_iters
        if self.profile_times > total:
            unit = "epochs" if self.by_epoch else "iterations"
            raise ConfigError(
                f"expected at most the run's {total} {unit}, got {self.profile_times}",
                file=runner.cfg.source,
                key=join_key(hook_key(runner.cfg, "ProfilerHook") or "", "profile_times"),
            )
        activities = [torch.profiler.ProfilerActivity.CPU] if self.activity_with_cpu else []
        if self.activity_with_cuda and torch.cuda.is_available():
            activities.append(torch.profiler.ProfilerActivity.CUDA)
        elif self.activity_with_cuda:
            runner.logger.warning(
                "ProfilerHook: activity_with_cuda = true but CUDA is not available: ignored"
            )
        if not activities:
            return
        self._profiler = torch.profiler.profile(
            activities=activities,
            schedule=self.schedule,
            on_trace_ready=self._trace_handler(runner),
            record_shapes=self.record_shapes,
            profile_memory=self.profile_memory,
            with_stack=self.with_stack,
            with_flops=self.with_flops,
        )
        self._profiler.start()
        self._left, self._first, self._last = self.profile_times, None, None
        window = "the first epoch" if self.by_epoch else f"{self.profile_times} iterations"
        runner.logger.info(f"ProfilerHook: profiling {window} from iteration {runner.iter}")

    def before_train_iter(self, runner: RunnerView, batch_idx: int, data_batch: Any = None) -> None:
        if self._profiler is None:
            return
        if self._first is None:
            self._first = runner.iter
        if self.schedule is None:  # with a schedule, torch's profiler marks the steps itself
            self._step = torch.profiler.record_function(f"ProfilerStep#{runner.iter}")
            self._step.__enter__()

    def after_train_iter(
        self, runner: RunnerView, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        if self._profiler is None:
            return
        self._close_step()
        self._profiler.step()
        self._last = runner.iter
        if not self.by_epoch:
            self._left -= 1
            if self._left == 0:
                self._finish(runner)

    def after_train_epoch(self, runner: RunnerView) -> None:
        if self.by_epoch:
            self._finish(runner)

    def after_train(self, runner: RunnerView) -> None:
        self._finish(runner)  # training ended inside the window (early stop, signal)

    def after_run(self, runner: RunnerView) -> None:
        self._finish(runner)  # after an error too: the profiler is not left running

    # -- the trace ---------------------------------------------------------------------------------
    def _close_step(self) -> None:
        if self._step is not None:
            self._step.__exit__(None, None, None)
            self._step = None

    def _trace_handler(self, runner: RunnerView) -> Callable[..., Any] | None:
        config = self.on_trace_ready
        if config is None or callable(config):
            return config
        options = {k: v for k, v in config.items() if k != "type"}
        if config["type"] == "log_trace":
            return lambda profiler: runner.logger.info(profiler.key_averages().table(**options))
        folder = Path(runner.work_dir) / options.pop("dir_name", TB_TRACE_DIR)
        if self.json_trace_path is not None:
            runner.logger.warning(
                "ProfilerHook: tb_trace writes its own trace files; json_trace_path writes one more"
            )
        runner.logger.info(f"ProfilerHook: TensorBoard traces go to {folder}")
        return torch.profiler.tensorboard_trace_handler(str(folder), **options)

    def _finish(self, runner: RunnerView) -> None:
        """Stop profiling and write the trace (once)."""
        profiler, self._profiler = self._profiler, None
        if profiler is None:
            return
        self._close_step()
        profiler.stop()
        span = "no iteration" if self._last is None else f"iterations {self._first}..{self._last}"
        path = self.json_trace_path or (DEFAULT_TRACE if self.on_trace_ready is None else None)
        if path is None:
            runner.logger.info(f"ProfilerHook: profiled {span}")
            return
        if profiler.profiler is None:  # a schedule whose recording steps all fell outside the window
            runner.logger.warning(f"ProfilerHook: profiled {span} but the schedule recorded none: no trace")
            return
        target = Path(runner.work_dir) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".partial.{target.name}")  # same suffix: torch gzips a .gz
        profiler.export_chrome_trace(str(partial))
        os.replace(partial, target)
        runner.logger.info(
            f"ProfilerHook: profiled {span}; trace {target} (chrome://tracing, ui.perfetto.dev)"
        )
