"""Values of the right type but out of range: refused through ``customrun train`` with one line naming
the key path, what was expected and what was found, before anything is trained; or, where a value is
allowed but likely a mistake, warned about in the run's log while the run goes on."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from customrun_core.testing import CliResult, RunResult

BASE = Path(__file__).resolve().parent.parent / "data" / "broken" / "_base.toml"

REFUSED = [
    pytest.param(
        "optim_wrapper.optimizer.lr=-0.1",
        "optim_wrapper.optimizer.lr: expected a number >= 0, got -0.1",
        id="negative-lr",
    ),
    pytest.param(
        "optim_wrapper.optimizer.weight_decay=-1e-4",
        "optim_wrapper.optimizer.weight_decay: expected a number >= 0, got -0.0001",
        id="negative-weight-decay",
    ),
    pytest.param(
        "optim_wrapper.optimizer.momentum=-0.9",
        "optim_wrapper.optimizer.momentum: expected a number >= 0, got -0.9",
        id="negative-momentum",
    ),
    pytest.param(
        "param_scheduler={type = 'LinearLR', begin = 3, end = 3}",
        "param_scheduler.end: expected end > begin, got begin=3, end=3",
        id="scheduler-end-equals-begin",
    ),
    pytest.param(
        "param_scheduler=[{type = 'LinearLR', by_epoch = false, begin = 10, end = 4}]",
        "param_scheduler[0].end: expected end > begin, got begin=10, end=4",
        id="scheduler-end-before-begin",
    ),
    pytest.param(
        "train_cfg.val_interval=0",
        "train_cfg.val_interval: expected an integer >= 1, got 0",
        id="val-interval-zero",
    ),
    pytest.param(
        "train_dataloader.batch_size=0",
        "train_dataloader.batch_size: expected an integer >= 1, got 0",
        id="batch-size-zero",
    ),
    pytest.param(
        "val_dataloader.batch_size=-8",
        "val_dataloader.batch_size: expected an integer >= 1, got -8",
        id="batch-size-negative",
    ),
    pytest.param(
        "train_dataloader.num_workers=-1",
        "train_dataloader.num_workers: expected an integer >= 0, got -1",
        id="num-workers-negative",
    ),
    pytest.param(
        "train_cfg.max_epochs=0",
        "train_cfg.max_epochs: expected an integer >= 1, got 0",
        id="max-epochs-zero",
    ),
    pytest.param(
        "train_cfg={type = 'IterBasedTrainLoop', max_iters = -5}",
        "train_cfg.max_iters: expected an integer >= 1, got -5",
        id="max-iters-negative",
    ),
    pytest.param(
        "optim_wrapper.clip_grad={max_norm = 0}",
        "optim_wrapper.clip_grad.max_norm: expected a number > 0, got 0",
        id="clip-max-norm-zero",
    ),
    pytest.param(
        "optim_wrapper.clip_grad={type = 'norm', max_norm = -1.5}",
        "optim_wrapper.clip_grad.max_norm: expected a number > 0, got -1.5",
        id="clip-max-norm-negative",
    ),
    pytest.param(
        "optim_wrapper.clip_grad={type = 'value', clip_value = 0}",
        "optim_wrapper.clip_grad.clip_value: expected a number > 0, got 0",
        id="clip-value-zero",
    ),
    pytest.param(
        "optim_wrapper.accumulative_counts=0",
        "optim_wrapper.accumulative_counts: expected an integer >= 1, got 0",
        id="accumulative-counts-zero",
    ),
    pytest.param(
        "randomness.seed=-1",
        "randomness.seed: expected an integer >= 0, got -1",
        id="seed-negative",
    ),
    pytest.param(
        "dist_cfg.timeout=0",
        "dist_cfg.timeout: expected an integer >= 1, got 0",
        id="dist-timeout-zero",
    ),
    pytest.param(
        "dist_cfg.timeout=-30",
        "dist_cfg.timeout: expected an integer >= 1, got -30",
        id="dist-timeout-negative",
    ),
]


@pytest.mark.parametrize(("override", "message"), REFUSED)
def test_out_of_range_value_is_refused_with_its_key_path(
    override: str, message: str, customrun_cli: Callable[..., CliResult]
) -> None:
    result = customrun_cli("train", BASE, "--set", override)
    assert result.exit_code == 2, result.stderr
    assert result.stderr_lines == [f"error: --set: {message}"]  # the value came from --set (issue 21, item 6)
    assert not (Path("work") / "config.toml").exists()  # refused before the run started


def _log(result: RunResult) -> str:
    return (result.work_dir / "run.log").read_text(encoding="utf-8")


def test_zero_lr_is_warned_about_and_the_run_goes_on(customrun_run: Callable[..., RunResult]) -> None:
    result = customrun_run(overrides=["optim_wrapper.optimizer.lr=0"])
    assert (
        "WARNING - optim_wrapper.optimizer.lr: 0 leaves every parameter where it is, unless a scheduler raises it"
        in _log(result)
    )
    assert result.runner.iter == len(result.runner.train_dataloader)


def test_scheduler_ending_after_training_is_warned_about_and_the_run_goes_on(
    customrun_run: Callable[..., RunResult],
) -> None:
    result = customrun_run(param_scheduler=[{"type": "LinearLR", "start_factor": 0.5, "end": 3}])
    assert (
        "WARNING - param_scheduler[0] (LinearLR) ends at epoch 3 but training runs 1 epoch: the schedule is cut off"
        in _log(result)
    )
    assert result.runner.iter == len(result.runner.train_dataloader)
