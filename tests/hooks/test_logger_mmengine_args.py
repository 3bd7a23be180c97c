"""LoggerHook's MMEngine arguments, each against MMEngine's documented meaning (mmengine.hooks.LoggerHook):

- ``log_metric_by_epoch``: a validation's scalars are added at ``step=runner.epoch`` when true, at
  ``step=runner.iter`` when false;
- ``ignore_last``: the log of an epoch's last iterations is left out when fewer than ``interval`` remain;
- ``interval_exp_name``: the experiment name is logged every ``interval_exp_name`` training iterations;
- ``out_dir`` / ``out_suffix`` / ``keep_local``: the work directory's files ending with one of
  ``out_suffix`` are copied to ``out_dir/<work_dir's last folder>``, and removed locally without
  ``keep_local``;
- ``file_client_args`` / ``backend_args``: a storage back-end for ``out_dir``; both at once is an error.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from customrun_core.errors import ConfigError
from customrun_core.hooks.logger import LoggerHook
from customrun_core.testing import tiny_config
from customrun_core.testkit import assert_resume_is_exact

ROOT = Path(__file__).resolve().parents[2]
ITERS = 23  # the tiny digits run: 1437 samples, batch 64


def _records(work_dir: Path, mode: str) -> list[dict[str, Any]]:
    lines = (work_dir / "scalars.jsonl").read_text(encoding="utf-8").splitlines()
    return [r for r in map(json.loads, lines) if r["mode"] == mode]


def _log(work_dir: Path) -> list[str]:
    return (work_dir / "run.log").read_text(encoding="utf-8").splitlines()


# MMSegmentation's configs/_base_/schedules/schedule_20k.py, 100 iterations instead of 20000, on the
# digits model of the examples' base files.
MMSEG_SCHEDULE = f"""
_base_ = ['{ROOT}/examples/mmengine/_base_/digits.py', '{ROOT}/examples/mmengine/_base_/runtime.py']
optimizer = dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0005)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer, clip_grad=None)
param_scheduler = [dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=100, by_epoch=False)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=100, val_interval=50)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=50),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
"""


def test_a_converted_mmsegmentation_schedule_trains(tmp_path: Path, customrun_cli) -> None:
    (tmp_path / "schedule.py").write_text(MMSEG_SCHEDULE, encoding="utf-8")
    shutil.copy(ROOT / "examples" / "seeds" / "seed_models.py", tmp_path)  # the base's custom_imports
    converted = customrun_cli("convert", str(tmp_path / "schedule.py"), "-o", str(tmp_path / "seg.toml"))
    assert converted.exit_code == 0, converted.stderr
    assert "log_metric_by_epoch = false" in (tmp_path / "seg.toml").read_text(encoding="utf-8")
    result = customrun_cli("train", str(tmp_path / "seg.toml"), "--work-dir", str(tmp_path / "w"))
    assert result.exit_code == 0, result.stderr
    # log_metric_by_epoch = false: MMEngine adds the validation scalars at step=runner.iter
    assert [(r["step"], r["epoch"]) for r in _records(tmp_path / "w", "val")] == [(50, 0), (100, 0)]
    assert [r["step"] for r in _records(tmp_path / "w", "train")] == [50, 100]


@pytest.mark.parametrize(("by_epoch", "steps"), [(True, [1, 2]), (False, [ITERS, 2 * ITERS])])
def test_log_metric_by_epoch_sets_the_step_of_validation_records(
    customrun_run, by_epoch: bool, steps: list[int]
) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = customrun_run(
        train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 2},
        default_hooks={"logger": {"interval": 10, "log_metric_by_epoch": by_epoch}},
        custom_hooks=[{"type": "TensorBoardLoggerHook"}],
    )
    val = _records(result.work_dir, "val")
    assert [r["step"] for r in val] == steps
    assert [r["epoch"] for r in val] == [1, 2]
    assert [r["step"] for r in _records(result.work_dir, "train")] == [10, 20, 23, 33, 43, 46]  # always iters
    events = EventAccumulator(str(result.work_dir / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("val/accuracy/top1")] == steps  # TensorBoard's own reader
    assert [e.step for e in events.Scalars("train/loss")] == [10, 20, 23, 33, 43, 46]


def test_log_metric_by_epoch_in_an_iteration_based_run_counts_iterations(customrun_run) -> None:
    result = customrun_run(
        train_cfg={"type": "IterBasedTrainLoop", "max_iters": 20, "val_interval": 10},
        default_hooks={"logger": {"interval": 10, "log_metric_by_epoch": True}},
    )
    assert [r["step"] for r in _records(result.work_dir, "val")] == [10, 20]
    warnings = [line for line in _log(result.work_dir) if "log_metric_by_epoch" in line]
    assert len(warnings) == 1 and " - WARNING - " in warnings[0]


@pytest.mark.parametrize(
    ("ignore_last", "steps"),
    [(True, [10, 20, 33, 43]), (False, [10, 20, 23, 33, 43, 46])],  # 23 an epoch: 3 are left after 20
)
def test_ignore_last_leaves_out_an_epoch_s_short_last_window(
    customrun_run, ignore_last: bool, steps: list[int]
) -> None:
    result = customrun_run(
        train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 2},
        default_hooks={"logger": {"interval": 10, "ignore_last": ignore_last}},
    )
    assert [r["step"] for r in _records(result.work_dir, "train")] == steps


@pytest.mark.parametrize(("every", "count"), [(5, 2 * ITERS // 5), (1000, 0), (0, 0)])
def test_interval_exp_name_logs_the_experiment_name_every_n_iterations(
    customrun_run, every: int, count: int
) -> None:
    result = customrun_run(
        train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 2},
        default_hooks={"logger": {"interval_exp_name": every}},
    )
    names = [line for line in _log(result.work_dir) if " - INFO - Exp name: " in line]
    assert len(names) == count
    assert all(line.endswith(f"Exp name: {result.work_dir.name} (config <config>)") for line in names)


def test_out_dir_gets_the_log_files_and_keep_local_keeps_them(customrun_run, tmp_path: Path) -> None:
    result = customrun_run(default_hooks={"logger": {"out_dir": str(tmp_path / "out")}})
    copied = tmp_path / "out" / result.work_dir.name  # MMEngine: out_dir joined with work_dir's last folder
    names = sorted(p.name for p in copied.iterdir())
    assert names == ["config.toml", "plugins.json", "run.log", "scalars.jsonl"]  # no checkpoints
    for name in names:
        local = (result.work_dir / name).read_text(encoding="utf-8")
        assert (copied / name).read_text(encoding="utf-8") == local
    assert "log files to" in _log(copied)[-1]  # run.log's copy is whole, to the line announcing it


def test_out_suffix_picks_the_files_and_without_keep_local_they_move(customrun_run, tmp_path: Path) -> None:
    result = customrun_run(
        default_hooks={
            "logger": {"out_dir": str(tmp_path / "out"), "out_suffix": ".jsonl", "keep_local": False}
        }
    )
    copied = tmp_path / "out" / result.work_dir.name
    assert sorted(p.name for p in copied.iterdir()) == ["scalars.jsonl"]
    assert not (result.work_dir / "scalars.jsonl").exists()
    assert (result.work_dir / "run.log").exists() and (result.work_dir / "epoch_1.pt").exists()
    assert [json.loads(line)["mode"] for line in (copied / "scalars.jsonl").read_text().splitlines()] == [
        "train",
        "train",
        "train",
        "val",
    ]


@pytest.mark.parametrize("name", ["file_client_args", "backend_args"])
def test_storage_arguments_are_accepted_with_one_warning(customrun_run, tmp_path: Path, name: str) -> None:
    logger = {"out_dir": str(tmp_path / "out"), name: {"backend": "local"}}
    result = customrun_run(default_hooks={"logger": logger})
    result.runner.test()  # a second before_run: still one warning
    warnings = [line for line in _log(result.work_dir) if " - WARNING - " in line]
    assert len(warnings) == 1
    assert warnings[0].endswith(f"LoggerHook: {name} is ignored: {LOGGER_STORAGE_REASON}")
    assert (tmp_path / "out" / result.work_dir.name / "scalars.jsonl").exists()


LOGGER_STORAGE_REASON = (
    "customrun copies logs to out_dir through the local file system; it has no storage back-ends"
)


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        ("{ file_client_args = {}, backend_args = {} }", "got both"),
        ('{ out_dir = "s3://bucket/logs" }', "expected a local directory, got 's3://bucket/logs'"),
        ("{ interval_exp_name = -1 }", "expected an integer >= 0, got -1"),
        ("{ log_metric_by_epok = false }", "log_metric_by_epoch"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(
    customrun_config, customrun_cli, setting: str, words: str
) -> None:
    config = customrun_config()
    result = customrun_cli("train", str(config), "--set", f"default_hooks.logger = {setting}")
    assert result.exit_code == 2, result.stderr
    [line] = result.stderr_lines
    assert line.startswith("error: ") and "default_hooks.logger" in line and words in line, line


def test_constructor_refuses_what_mmengine_refuses() -> None:
    with pytest.raises(ConfigError, match="got both"):
        LoggerHook(file_client_args={}, backend_args={})
    with pytest.raises(ConfigError, match="interval"):
        LoggerHook(interval=0)


def test_resume_stays_exact_with_every_logger_argument_on(tmp_path: Path) -> None:
    logger = {
        "type": "LoggerHook",
        "interval": 4,
        "ignore_last": True,
        "interval_exp_name": 5,
        "log_metric_by_epoch": True,
        "out_dir": str(tmp_path / "out"),
        "keep_local": True,
    }
    config = tiny_config(
        train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 2}, default_hooks={"logger": logger}
    )
    assert assert_resume_is_exact(config, tmp_path, every=17) == [17, 34]
