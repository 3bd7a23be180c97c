"""The console progress bar: when it is shown, what it shows, and that log lines stay plain."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from customrun_core import Hook, Priority
from customrun_core.hooks.progress import ProgressBarHook, progress_wanted

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
    bar = ProgressBarHook(_console(buffer), refresh_interval=0)  # every iteration: comparable to the log
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
    assert f"loss {last['loss']:.4f}  lr {last['lr']:.4e}" in shown
    assert "it/s" in shown and "eta" in shown
    assert bar.progress is None  # stopped when training ended
    assert "\x1b[?25h" in buffer.getvalue()  # the live display gave the cursor back


def test_iteration_bars_end_where_validation_runs(customrun_run) -> None:
    bar = ProgressBarHook(_console(io.StringIO()), refresh_interval=0)
    recorder = BarRecorder(bar)
    result = customrun_run(
        hooks=[bar, recorder], train_cfg={"type": "IterBasedTrainLoop", "max_iters": 25, "val_interval": 10}
    )
    validated = [c.iter for c in result.calls_to("before_val")]
    assert validated == [10, 20, 25]
    ends = [0, *validated]
    for step, description, completed, total, _fields in recorder.seen:
        window = next(w for w in range(len(validated)) if step <= validated[w])
        start, end = ends[window], validated[window]
        assert description == f"Iter {start + 1}-{end}/25"
        assert (completed, total) == (step - start, end - start)


def test_the_bar_refreshes_at_most_every_refresh_interval(customrun_run) -> None:
    bar = ProgressBarHook(_console(io.StringIO()), refresh_interval=3600)  # never, but at a bar's end
    recorder = BarRecorder(bar)
    result = customrun_run(hooks=[bar, recorder], default_hooks={"logger": {"interval": 1}})
    records = _records(result.work_dir)
    first, last = recorder.seen[0], recorder.seen[-1]
    assert first[2] == 1 and first[4]["loss"] == pytest.approx(records[1]["loss"])  # a new bar's first
    assert all(s[2] == 1 for s in recorder.seen[:-1])  # nothing read in between
    assert last[2] == last[3] == 23 and last[4]["loss"] == pytest.approx(records[23]["loss"])


def test_the_bar_stops_after_an_error(customrun_run) -> None:
    buffer = io.StringIO()
    bar = ProgressBarHook(_console(buffer))

    class Boom(Hook):
        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
            if runner.iter == 3:
                raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        customrun_run(hooks=[bar, Boom()])
    assert bar.progress is None
    assert "\x1b[?25h" in buffer.getvalue()  # the live display gave the cursor back


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
    assert any("Epoch(val) [1][2/2]" in line for line in logged)
    shown = set(_plain(out))
    missing = [line for line in logged if line not in shown]
    assert missing == []  # every log line whole on stdout, as run.log has it
    assert bar.progress is None
