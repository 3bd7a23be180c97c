"""The console progress bar: when it is shown, what it shows, and that log lines stay plain."""

from __future__ import annotations

import io
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import pytest

from customrun_core import Hook, Priority, Runner
from customrun_core.hooks.defaults import build_hook, hook_tables
from customrun_core.hooks.progress import ConsoleLogHandler, ProgressBarHook, progress_wanted
from customrun_core.run_log import STDOUT_HANDLER
from customrun_core.testing import tiny_config

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _plain(text: str) -> list[str]:
    """Terminal output as a terminal shows each line: what follows its last carriage return (the
    live bar is redrawn over), without control codes (colours, cursor moves)."""
    return [ANSI.sub("", line.rsplit("\r", 1)[-1]) for line in text.split("\n")]


def _records(work_dir: Path, mode: str = "train") -> dict[int, dict[str, Any]]:
    lines = (work_dir / "scalars.jsonl").read_text().splitlines()
    return {r["step"]: r for r in map(json.loads, lines) if r["mode"] == mode}


def _console(buffer: io.StringIO) -> Any:
    from rich.console import Console

    return Console(file=buffer, force_terminal=True, width=200, highlight=False)


class BarRecorder(Hook):
    """After every iteration (after the bar's hook), what the bar holds: (iteration, fields)."""

    priority = Priority.LOWEST

    def __init__(self, bar: ProgressBarHook) -> None:
        self.bar, self.seen = bar, []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        [task] = self.bar.progress.tasks  # one bar at a time
        self.seen.append((runner.iter + 1, task.description, task.completed, task.total, dict(task.fields)))


# -- when the bar is shown -------------------------------------------------------------------------


@pytest.fixture
def terminal():
    """A real pseudo-terminal (isatty() is true), as a text stream."""
    leader, follower = os.openpty()
    stream = os.fdopen(follower, "w")
    yield stream
    stream.close()
    os.close(leader)


def test_auto_shows_the_bar_only_on_a_terminal_outside_ci(terminal) -> None:
    assert terminal.isatty()
    assert progress_wanted("auto", terminal, environ={}) is True
    assert progress_wanted("auto", terminal, environ={"CI": "1"}) is False
    assert progress_wanted("auto", terminal, environ={"CI": "true"}) is False
    assert progress_wanted("auto", terminal, environ={"GITHUB_ACTIONS": "true"}) is False
    assert progress_wanted("auto", terminal, environ={"CI": "false"}) is True  # switched off explicitly
    assert progress_wanted("auto", terminal, environ={"TERM": "dumb"}) is False
    assert progress_wanted("auto", terminal, environ={"PYTEST_CURRENT_TEST": "t.py::t (call)"}) is False


def test_auto_is_off_without_a_terminal() -> None:
    read, write = os.pipe()
    with os.fdopen(write, "w") as pipe:
        assert progress_wanted("auto", pipe, environ={}) is False
    os.close(read)
    assert progress_wanted("auto", io.StringIO(), environ={}) is False


def test_true_and_false_decide_whatever_the_output(terminal) -> None:
    assert progress_wanted(True, io.StringIO(), environ={"CI": "1"}) is True
    assert progress_wanted(False, terminal, environ={}) is False


def test_by_default_under_pytest_no_progress_hook_is_registered(customrun_run) -> None:
    result = customrun_run()
    assert result.runner.cfg.progress == "auto"
    assert not any(isinstance(h, ProgressBarHook) for h in result.runner.hooks.plugins)
    assert all(
        "ProgressBarHook" not in name for impls in result.runner.hooks.order().values() for name, _ in impls
    )


def _bar_points(runner: Runner) -> dict[str, list[Any]]:
    """The hook points at which the runner's order table lists the progress bar, with its priorities."""
    order = runner.hooks.order()
    return {
        point: [priority for name, priority in impls if name.startswith("ProgressBarHook")]
        for point, impls in order.items()
        if any(name.startswith("ProgressBarHook") for name, _ in impls)
    }


@pytest.mark.parametrize(
    "changes",
    [
        {},  # progress = "auto", and pytest is no terminal
        {"progress": False},
        {"default_hooks": {"progress": False}},
        {"progress": False, "default_hooks": {"progress": False}},
        {"default_hooks": {"progress": {"show": "auto", "refresh_interval": 1.0}}},
        {"default_hooks": {"progress": {"show": False}}},
    ],
)
def test_off_the_progress_hook_is_not_registered(changes, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    runner = Runner.from_config(tiny_config(**changes))
    assert _bar_points(runner) == {}
    assert not any(isinstance(h, ProgressBarHook) for h in runner.hooks.plugins)


@pytest.mark.parametrize(
    ("changes", "refresh_interval"),
    [
        ({"progress": True}, 0.25),
        ({"default_hooks": {"progress": {}}}, 0.25),
        ({"default_hooks": {"progress": True}}, 0.25),
        ({"progress": True, "default_hooks": {"progress": {"refresh_interval": 1.0}}}, 1.0),
        ({"default_hooks": {"progress": {"show": True}}}, 0.25),
    ],
)
def test_forced_the_progress_hook_is_a_registered_default_hook(
    changes, refresh_interval, tmp_path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    runner = Runner.from_config(tiny_config(**changes))
    points = (
        "before_run",
        "before_train",
        "before_train_iter",
        "after_train_iter",
        "after_val_epoch",  # the last validation result on the bar
        "after_train",
        "after_run",
    )
    assert _bar_points(runner) == {point: ["LOW"] for point in points}
    [bar] = [h for h in runner.hooks.plugins if isinstance(h, ProgressBarHook)]
    assert (bar.show, bar.refresh_interval) == (True, refresh_interval)


def test_the_progress_table_comes_from_both_keys() -> None:
    def bar(default_hooks: dict[str, Any], progress: bool | str) -> dict[str, Any] | None:
        tables = dict(hook_tables(default_hooks, [], progress))
        return tables.get("default_hooks.progress")

    assert bar({}, "auto") == {"type": "ProgressBarHook", "show": "auto"}
    assert bar({}, True) == {"type": "ProgressBarHook", "show": True}
    assert bar({}, False) is None
    assert bar({"progress": False}, "auto") is None
    assert bar({"progress": True}, "auto") == {"type": "ProgressBarHook", "show": True}
    assert bar({"progress": {"refresh_interval": 1}}, "auto") == {
        "type": "ProgressBarHook",
        "show": True,
        "refresh_interval": 1,
    }
    assert bar({"progress": {"show": "auto"}}, "auto") == {"type": "ProgressBarHook", "show": "auto"}
    assert bar({"progress": {"type": "MyBar", "width": 3}}, True) == {"type": "MyBar", "width": 3}


def test_only_rank_0_and_only_a_shown_bar_is_built() -> None:
    key = "default_hooks.progress"
    assert build_hook({"type": "ProgressBarHook", "show": True}, key, rank=1) is None
    assert build_hook({"type": "ProgressBarHook", "show": False}, key, rank=0) is None
    assert build_hook({"type": "ProgressBarHook", "show": "auto"}, key, rank=0) is None  # under pytest
    hook, priority = build_hook({"type": "ProgressBarHook", "show": True, "priority": "LOWEST"}, key, rank=0)
    assert isinstance(hook, ProgressBarHook) and priority == "LOWEST"


@pytest.mark.parametrize(
    ("changes", "given"),
    [
        ({"progress": False, "default_hooks": {"progress": {}}}, "table {}"),
        ({"progress": False, "default_hooks": {"progress": True}}, "boolean True"),
        ({"progress": True, "default_hooks": {"progress": False}}, "boolean False"),
        ({"progress": True, "default_hooks": {"progress": {"show": "auto"}}}, "table {'show': 'auto'}"),
    ],
)
def test_disagreeing_progress_settings_are_one_line(customrun_cli, customrun_config, changes, given) -> None:
    config = customrun_config(**changes)
    result = customrun_cli("train", config)
    assert result.exit_code == 2
    wanted = str(changes["progress"]).lower()
    assert result.stderr_lines == [
        f"error: {config}: default_hooks.progress: {given} disagrees with progress = {wanted}: set the"
        ' progress bar in one place (with progress = "auto", the default, default_hooks.progress decides)'
    ]
    assert not (config.parent / "work" / "scalars.jsonl").exists()


def test_a_bad_progress_value_is_one_line(customrun_cli, customrun_config) -> None:
    config = customrun_config(progress="yes")
    result = customrun_cli("train", config)
    assert result.exit_code == 2
    assert result.stderr_lines == [
        f"error: {config}: progress: expected a boolean or 'auto', got string 'yes'"
    ]
    assert not (config.parent / "work" / "scalars.jsonl").exists()


# -- what it shows -------------------------------------------------------------------------------


def test_epoch_bars_show_the_count_and_the_logged_loss_and_lr(customrun_run) -> None:
    buffer = io.StringIO()
    bar = ProgressBarHook.drawing_on(_console(buffer), refresh_interval=0)  # every iteration: as the log
    recorder = BarRecorder(bar)
    schedule = [
        {"type": "LinearLR", "start_factor": 0.5, "end_factor": 1.0, "begin": 0, "end": 10, "by_epoch": False}
    ]
    result = customrun_run(
        hooks=[bar, recorder],
        train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 2},
        param_scheduler=schedule,
        default_hooks={"logger": {"interval": 1}},  # a window of one iteration: its own loss
    )
    records = _records(result.work_dir)
    per_epoch = len(result.runner.train_dataloader)
    assert per_epoch == 23  # 1437 digits * 0.8 for training, batches of 64
    assert [s[0] for s in recorder.seen] == list(range(1, 2 * per_epoch + 1))
    for step, description, completed, total, fields in recorder.seen:
        epoch, in_epoch = divmod(step - 1, per_epoch)
        assert description == f"Epoch {epoch + 1}/2"
        assert (completed, total) == (in_epoch + 1, per_epoch)
        assert fields["loss"] == pytest.approx(records[step]["loss"], rel=1e-12)
        # LinearLR by hand (MMEngine's: end_factor is reached at iteration end - 1 = 9), the lr the
        # step used: 0.1 * (0.5 + 0.5 * min(i, 9) / 9) at iteration i
        i = step - 1
        assert fields["lr"] == pytest.approx(0.1 * (0.5 + 0.5 * min(i, 9) / 9), rel=1e-9)
        assert fields["lr"] == pytest.approx(records[step]["lr"], rel=1e-12)
    shown = "\n".join(_plain(buffer.getvalue()))
    last = records[2 * per_epoch]
    assert "Epoch 2/2" in shown and f"{per_epoch}/{per_epoch}" in shown
    assert f"loss {last['loss']:.4f}  lr {last['lr']:.4g}" in shown
    assert "it/s" in shown and "epoch eta" in shown  # not the log line's eta, which is the run's
    assert bar.progress is None  # stopped when training ended
    assert "\x1b[?25h" in buffer.getvalue()  # the live display gave the cursor back


def test_iteration_bars_end_where_validation_runs(customrun_run) -> None:
    bar = ProgressBarHook.drawing_on(_console(io.StringIO()), refresh_interval=0)
    recorder = BarRecorder(bar)
    result = customrun_run(
        hooks=[bar, recorder], train_cfg={"type": "IterBasedTrainLoop", "max_iters": 25, "val_interval": 10}
    )
    validated = [c.iter for c in result.calls_to("before_val")]
    assert validated == [10, 20, 25]
    ends = [0, *validated]
    for step, description, completed, total, fields in recorder.seen:
        window = next(w for w in range(len(validated)) if step <= validated[w])
        start, end = ends[window], validated[window]
        assert description == f"Iter {start + 1}-{end}/25"
        assert (completed, total) == (step - start, end - start)
        assert fields["eta"] == ("run eta" if end == 25 else "eta to val")  # what the bar's ETA counts to


def test_the_bar_refreshes_at_most_every_refresh_interval(customrun_run) -> None:
    # refreshed never, but at a bar's end
    bar = ProgressBarHook.drawing_on(_console(io.StringIO()), refresh_interval=3600)
    recorder = BarRecorder(bar)
    result = customrun_run(hooks=[bar, recorder], default_hooks={"logger": {"interval": 1}})
    records = _records(result.work_dir)
    first, last = recorder.seen[0], recorder.seen[-1]
    assert first[2] == 1 and first[4]["loss"] == pytest.approx(records[1]["loss"])  # a new bar's first
    assert all(s[2] == 1 for s in recorder.seen[:-1])  # nothing read in between
    assert last[2] == last[3] == 23 and last[4]["loss"] == pytest.approx(records[23]["loss"])


def test_the_bar_stops_after_an_error(customrun_run) -> None:
    buffer = io.StringIO()
    bar = ProgressBarHook.drawing_on(_console(buffer))
    runners = []

    class Boom(Hook):
        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
            runners.append(runner)
            if runner.iter == 3:
                raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        customrun_run(hooks=[bar, Boom()])
    assert bar.progress is None
    assert "\x1b[?25h" in buffer.getvalue()  # the live display gave the cursor back
    _assert_stdout_handler_is_back(runners[0].logger)


def _assert_stdout_handler_is_back(logger: logging.Logger) -> None:
    [stdout] = [h for h in logger.handlers if h.get_name() == STDOUT_HANDLER]
    assert type(stdout) is logging.StreamHandler
    assert not any(isinstance(h, ConsoleLogHandler) for h in logger.handlers)


# -- log lines with the bar on -----------------------------------------------------------------------


def test_with_the_bar_on_log_lines_are_plain_in_run_log_and_on_stdout(customrun_run, capsys) -> None:
    result = customrun_run(progress=True, default_hooks={"logger": {"interval": 5}})
    [bar] = [h for h in result.runner.hooks.plugins if isinstance(h, ProgressBarHook)]
    out = capsys.readouterr().out
    assert "\x1b[" in out  # the bar was drawn (progress = true forces a terminal)
    log = (result.work_dir / "run.log").read_text(encoding="utf-8")
    assert "\x1b" not in log and "[/" not in log  # no control codes, no rich markup
    logged = log.splitlines()
    assert any("Epoch(train) [1][23/23]" in line for line in logged)
    assert any("Epoch(val) [1][1/1]" in line for line in logged)
    shown = set(_plain(out))
    # the hook-order table (its first line, then indented ones) is run.log's only
    start = next(i for i, line in enumerate(logged) if line.endswith("executed in the following order:"))
    end = next(i for i in range(start + 1, len(logged)) if not logged[i].startswith(" "))
    table, console = logged[start:end], logged[:start] + logged[end:]
    # every other log line whole on stdout, in the console's form (issue 21, item 10): the time of
    # day, the message; a train line without data_time, the plugins without versions
    expected = [
        f"{line[11:19]} {re.sub(r'  data_time: [0-9.]+', '', line.split(' - INFO - ')[1])}"
        for line in console
    ]
    missing = [line for line in expected if line not in shown and " plugins: " not in line]
    assert missing == []
    assert any(re.fullmatch(r"\d\d:\d\d:\d\d plugins: [^-].*", line) for line in shown)
    assert not any(line in shown for line in table)
    assert bar.progress is None


def test_log_lines_go_through_the_bar_s_console_from_before_run_to_after_run(customrun_run, capsys) -> None:
    buffer = io.StringIO()
    bar = ProgressBarHook.drawing_on(_console(buffer))

    class Says(Hook):
        def before_train(self, runner) -> None:
            runner.logger.info("said while the bar is attached")

    result = customrun_run(hooks=[bar, Says()])
    result.runner.logger.info("said after the run")
    out = capsys.readouterr().out.splitlines()
    shown = _plain(buffer.getvalue())
    logged = (result.work_dir / "run.log").read_text(encoding="utf-8").splitlines()
    [during] = [line for line in logged if line.endswith("said while the bar is attached")]
    assert f"{during[11:19]} said while the bar is attached" in shown  # through the bar's console
    assert not any("said while the bar is attached" in line for line in out)
    assert any(re.fullmatch(r"\d\d:\d\d:\d\d said after the run", line) for line in out)
    assert "said after the run" not in buffer.getvalue()
    _assert_stdout_handler_is_back(result.runner.logger)
