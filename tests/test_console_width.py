"""The console of a training fits 100 columns and says which ETA is which (issue 21, item 10).

``customrun train`` on the digits example, one epoch, run as a user runs it (a subprocess) with the
bar forced on (``progress = true``) and a 100-column terminal (``COLUMNS``): every line on stdout,
bar frames included, fits, none is wrapped, the hook-order table is in run.log only, the bar's ETA
says it is the epoch's and the log line's is MMEngine's ``eta:`` (the whole run's), with MMEngine's
fields in MMEngine's order; run.log keeps MMEngine's whole line, ``data_time`` included.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DIGITS = Path(__file__).resolve().parents[1] / "examples" / "digits.toml"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
TIME = r"\d\d:\d\d:\d\d"
CONSOLE_TRAIN = re.compile(
    rf"{TIME} Epoch\(train\) \[1\]\[ ?\d+/\d+\]  lr: \d\.\d{{4}}e-\d\d  eta: \d+:\d\d:\d\d  time: \d+\.\d{{4}}"
    r"  loss: \d+\.\d{4}"
)
LOG_TRAIN = re.compile(
    rf"\d{{4}}/\d\d/\d\d {TIME} - customrun - INFO - Epoch\(train\) \[1\]\[ ?\d+/\d+\]  lr: \S+  eta: \S+"
    r"  time: \S+  data_time: \S+  loss: \S+"
)
BAR = re.compile(r"Epoch 1/1 \S+ +\d+/\d+ +\S+ it/s epoch eta (\d+:\d\d:\d\d|-:--:--) loss \S+  lr \S+")


def _screen_lines(out: str) -> list[str]:
    """What a terminal shows, line by line: control codes gone, each redraw (``\\r``) its own line."""
    return [line for line in re.split(r"[\r\n]", ANSI.sub("", out)) if line.strip()]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """stdout and run.log of one run, shared by the tests below (a training is seconds)."""
    here = tmp_path_factory.mktemp("console")
    shutil.copyfile(DIGITS, here / "digits.toml")  # relative paths, as a user types them
    overrides = ["--set", "train_cfg.max_epochs=1", "--set", "progress=true", "--work-dir", "work"]
    done = subprocess.run(
        [sys.executable, "-m", "customrun_core", "train", "digits.toml", *overrides],
        cwd=here,
        env={**os.environ, "COLUMNS": "100"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, (here / "work" / "run.log").read_text(encoding="utf-8")


def test_every_console_line_fits_100_columns_whole(trained: tuple[str, str]) -> None:
    out, _ = trained
    lines = _screen_lines(out)
    assert "\x1b[" in out and any(BAR.match(line) for line in lines)  # the bar was drawn
    assert [line for line in lines if len(line) > 100 or "…" in line] == []  # none cut to fit either
    # nothing wrapped: each line is a log line (the time of day first) or a whole bar
    assert [line for line in lines if not (re.match(rf"{TIME} ", line) or BAR.match(line))] == []


def test_the_hook_order_is_in_run_log_only(trained: tuple[str, str]) -> None:
    out, log = trained
    assert "executed in the following order" not in out and "(BELOW_NORMAL) LoggerHook" not in out
    assert "executed in the following order" in log and "    (BELOW_NORMAL) LoggerHook" in log


def test_the_etas_say_what_they_count_to_and_lines_keep_mmengine_s_fields(trained: tuple[str, str]) -> None:
    out, log = trained
    lines = _screen_lines(out)
    train = [line for line in lines if "Epoch(train)" in line]
    assert len(train) == 3  # at 20, 40 and 45 of 45 iterations
    assert [line for line in train if not CONSOLE_TRAIN.fullmatch(line)] == []
    assert all(" epoch eta " in line for line in lines if BAR.match(line))
    logged = [line for line in log.splitlines() if "Epoch(train)" in line]
    assert len(logged) == 3 and [line for line in logged if not LOG_TRAIN.fullmatch(line)] == []
    # the console's line is run.log's without its prefix and data_time
    assert [re.sub(r"  data_time: \S+", "", line.split(" - INFO - ")[1]) for line in logged] == [
        line.split(" ", 1)[1] for line in train
    ]


def test_the_console_s_plugins_line_is_cut_to_fit() -> None:
    from customrun_core.plugin_listing import SHORT_HEADER, header

    rows = [
        {
            "distribution": f"customrun-plugin-number-{i}",
            "version": "1.0.0",
            "builtin": False,
            "status": "loaded",
        }
        for i in range(20)
    ]
    full, short = header(rows), header(rows, short=True)
    assert full.startswith("plugins: customrun-plugin-number-0-1.0.0, ") and full.count(",") == 19
    assert len(short) <= SHORT_HEADER and short.startswith("plugins: plugin-number-0, plugin-number-1")
    shown = short.split(" and ")[0].removeprefix("plugins: ").split(", ")
    assert short.endswith(f" and {20 - len(shown)} more (customrun plugins)")
    assert header(rows[:2], short=True) == "plugins: plugin-number-0, plugin-number-1"
    assert header([], short=True) == header([]) == "plugins: none"


def test_the_last_epoch_s_bar_of_the_digits_example_fits_100_columns_uncut() -> None:
    """The widest bar of ``customrun train examples/digits.toml`` (10 epochs, lr down to 0.001 by
    then, a metric shown, 3-digit speed): one line of 100 columns, nothing cut."""
    from rich.console import Console
    from rich.progress import Progress

    from customrun_core.hooks.progress import _columns

    console = Console(width=100, force_terminal=True, color_system=None)
    now = [0.0]
    progress = Progress(*_columns(), console=console, get_time=lambda: now[0])
    fields = {"loss": 0.0318, "lr": 0.001, "metric": ("accuracy/top1", 97.7778), "eta": "epoch eta"}
    task = progress.add_task("Epoch 10/10", total=45, **fields)
    progress.start_task(task)
    for _ in range(44):  # 125 iterations a second: "125.0 it/s"
        now[0] += 0.008
        progress.update(task, advance=1)
    with console.capture() as captured:
        console.print(progress.make_tasks_table(progress.tasks))
    lines = captured.get().splitlines()
    assert len(lines) == 1 and len(lines[0]) <= 100 and "…" not in lines[0]
    assert lines[0].startswith("Epoch 10/10 ") and lines[0].rstrip().endswith("val accuracy/top1 97.7778")
    assert " 44/45 125.0 it/s epoch eta 0:00:01 loss 0.0318  lr 0.001  " in lines[0]
