"""TensorBoardLoggerHook: the logged scalars in real event files, read back with TensorBoard's reader."""

from __future__ import annotations

import json
import math
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from customrun_core import Hook
from customrun_core.testing import logged_scalars

TB = {"type": "TensorBoardLoggerHook"}


def _events(log_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar in the event files of ``log_dir``, by tag: (step, value), read by TensorBoard."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})  # 0: keep them all
    accumulator.Reload()
    return {
        tag: [(event.step, event.value) for event in accumulator.Scalars(tag)]
        for tag in accumulator.Tags()["scalars"]
    }


def _assert_same(
    events: dict[str, list[tuple[int, float]]], logged: dict[str, list[tuple[int, float]]]
) -> None:
    assert sorted(events) == sorted(logged)
    for tag, points in logged.items():
        assert [step for step, _ in events[tag]] == [step for step, _ in points], tag
        for (_, got), (_, want) in zip(events[tag], points, strict=True):
            assert got == pytest.approx(want, rel=1e-6), tag  # event files hold float32


def test_event_files_hold_the_logged_scalars_at_the_logged_steps(customrun_run) -> None:
    result = customrun_run(
        custom_hooks=[TB],
        train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 2},
        default_hooks={"logger": {"interval": 5}},
    )
    events = _events(result.work_dir / "tensorboard")
    logged = logged_scalars(result.work_dir)
    # window means every 5 iterations and at each epoch's end (23 per epoch), validation per epoch
    assert [step for step, _ in logged["train/loss"]] == [5, 10, 15, 20, 23, 28, 33, 38, 43, 46]
    assert [step for step, _ in logged["val/accuracy/top1"]] == [23, 46]
    assert {"train/lr", "train/time", "train/data_time"} <= set(logged)
    _assert_same(events, logged)


def test_an_iteration_run_and_a_test_run_are_logged_too(customrun_run) -> None:
    result = customrun_run(
        custom_hooks=[TB], train_cfg={"type": "IterBasedTrainLoop", "max_iters": 12, "val_interval": 6}
    )
    result.runner.test()  # a second run of the same runner: a second event file, same directory
    events = _events(result.work_dir / "tensorboard")
    logged = logged_scalars(result.work_dir)
    assert [step for step, _ in logged["train/loss"]] == [10, 12]
    assert [step for step, _ in logged["val/accuracy/top1"]] == [6, 12]
    assert [step for step, _ in logged["test/accuracy/top1"]] == [12]
    _assert_same(events, logged)


def test_log_dir_is_relative_to_the_work_dir_or_absolute(customrun_run, tmp_path) -> None:
    result = customrun_run(
        custom_hooks=[{**TB, "log_dir": "tb"}, {**TB, "log_dir": str(tmp_path / "elsewhere")}]
    )
    logged = logged_scalars(result.work_dir)
    _assert_same(_events(result.work_dir / "tb"), logged)
    _assert_same(_events(tmp_path / "elsewhere"), logged)
    assert not (result.work_dir / "tensorboard").exists()


def test_the_events_are_flushed_and_closed_after_an_error(customrun_run) -> None:
    class Boom(Hook):
        priority = "LOWEST"  # after the LoggerHook has just logged step 10

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
            if runner.iter + 1 == 10:
                raise RuntimeError("boom")

    # flush_secs far beyond the run: the last record is written because after_run flushes
    before = set(threading.enumerate())
    with pytest.raises(RuntimeError, match="boom"):
        customrun_run(
            hooks=[Boom()],
            custom_hooks=[{**TB, "flush_secs": 3600}],
            default_hooks={"logger": {"interval": 5}},
        )
    work_dir = Path("work")
    assert [t for t in threading.enumerate() if t not in before] == []  # the writer's thread ended: closed
    events = _events(work_dir / "tensorboard")
    assert [step for step, _ in events["train/loss"]] == [5, 10]
    _assert_same(events, logged_scalars(work_dir))


def test_a_nonfinite_value_is_written_as_it_is(customrun_run) -> None:
    class Diverge(Hook):
        priority = "VERY_HIGH"

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
            if runner.iter == 2:
                runner.scalars.update("grad_norm", float("inf"))

    result = customrun_run(custom_hooks=[TB], hooks=[Diverge()], default_hooks={"logger": {"interval": 5}})
    [(step, value)] = _events(result.work_dir / "tensorboard")["train/grad_norm"]
    assert step == 5 and value == math.inf
    first = json.loads((result.work_dir / "scalars.jsonl").read_text().splitlines()[0])
    assert first["grad_norm"] is None  # strict JSON has no Infinity


def test_a_resumed_run_hides_what_the_interrupted_one_logged_after_its_checkpoint(customrun_run) -> None:
    config = {
        "custom_hooks": [TB],
        "train_cfg": {"type": "IterBasedTrainLoop", "max_iters": 12},
        "default_hooks": {"logger": {"interval": 2}, "checkpoint": {"by_epoch": False, "interval": 6}},
    }
    customrun_run(**config)  # as if it had been interrupted after iteration 12
    # TensorBoard orders event files by the second in their names; a resume comes seconds later
    time.sleep(1.1)
    customrun_run(**config, resume="work/iter_6.pt")
    lines = [json.loads(line) for line in Path("work/scalars.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines if r["mode"] == "train"] == [2, 4, 6, 8, 10, 12, 8, 10, 12]
    latest: dict[str, dict[int, float]] = {}  # per tag and step, the value logged last
    for record in lines:
        for name, value in record.items():
            if name not in ("mode", "step", "epoch"):
                latest.setdefault(f"{record['mode']}/{name}", {})[record["step"]] = value
    events = _events(Path("work/tensorboard"))
    assert sorted(events) == sorted(latest)
    for tag, values in latest.items():
        assert [step for step, _ in events[tag]] == sorted(values), tag  # each step once
        for step, got in events[tag]:
            assert got == pytest.approx(values[step], rel=1e-6), tag


def test_the_hook_runs_at_no_hook_point_per_iteration(customrun_run) -> None:
    result = customrun_run(custom_hooks=[TB])
    points = {
        p
        for p, impls in result.runner.hooks.order().items()
        for name, _ in impls
        if name == "TensorBoardLoggerHook"
    }
    assert points == {"before_run", "before_train", "after_log_record", "after_train", "after_run"}


def test_only_rank_0_writes(tmp_path) -> None:
    from customrun_core.hooks.tensorboard import TensorBoardLoggerHook

    hook = TensorBoardLoggerHook()
    runner = SimpleNamespace(rank=1, work_dir=tmp_path, iter=0, cfg=None, logger=None)
    hook.before_run(runner)
    hook.before_train(runner)
    hook.after_log_record(runner, {"mode": "train", "step": 1, "epoch": 1, "loss": 1.0})
    hook.after_train(runner)
    hook.after_run(runner)
    assert not (tmp_path / "tensorboard").exists()


def test_a_run_that_trained_without_a_record_says_so_once(customrun_run) -> None:
    result = customrun_run(custom_hooks=[TB], default_hooks={"logger": False})
    log = (result.work_dir / "run.log").read_text(encoding="utf-8")
    warnings = [line for line in log.splitlines() if "TensorBoardLoggerHook" in line and "WARNING" in line]
    assert len(warnings) == 1
    assert warnings[0].endswith(
        f"TensorBoardLoggerHook received no record, so nothing was written to {result.work_dir / 'tensorboard'}:"
        " it writes what the LoggerHook logs (is default_hooks.logger = false?)"
    )
    assert not (result.work_dir / "tensorboard").exists()


def test_a_run_with_records_or_without_training_does_not_warn(customrun_run) -> None:
    trained = customrun_run(custom_hooks=[TB])
    tested = customrun_run(custom_hooks=[TB], default_hooks={"logger": False}, mode="test")
    for result in (trained, tested):
        assert "received no record" not in (result.work_dir / "run.log").read_text(encoding="utf-8")


def _without_tensorboard(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import tensorboard`` fail as it does when the package is not installed."""
    for name in list(sys.modules):
        if name == "tensorboard" or name.startswith(("tensorboard.", "torch.utils.tensorboard")):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "tensorboard", None)


def test_without_tensorboard_the_run_stops_at_start_naming_the_extra(
    customrun_cli, customrun_config, monkeypatch
) -> None:
    _without_tensorboard(monkeypatch)
    config = customrun_config(custom_hooks=[TB])
    result = customrun_cli("train", config)
    assert result.exit_code == 2
    assert result.stderr_lines == [
        f"error: {config}: custom_hooks[0]: TensorBoardLoggerHook needs tensorboard, which is not"
        " installed: pip install 'customrun-core[tensorboard]'"
    ]
    assert not (config.parent / "work" / "scalars.jsonl").exists()  # before any training


def test_a_bad_argument_is_one_line(customrun_cli, customrun_config) -> None:
    config = customrun_config(custom_hooks=[{**TB, "logdir": "tb"}])
    result = customrun_cli("train", config)
    assert result.exit_code == 2
    [line] = result.stderr_lines
    assert line.startswith(f"error: {config}: custom_hooks[0].logdir: ") and "'log_dir'" in line
