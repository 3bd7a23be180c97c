"""The start-of-training warning about a schedule that does not fit the run (the seeds' note on
changing ``max_epochs`` without changing ``param_scheduler``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from customrun_core.optim import OptimWrapper
from customrun_core.runner import Runner
from customrun_core.schedulers.build import build_param_schedulers, coverage_warnings
from customrun_core.testing import tiny_config


def warnings_for(
    cfg: Any, max_epochs: int = 200, epoch_length: int = 10, max_iters: int | None = None
) -> list[str]:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
    max_iters = max_epochs * epoch_length if max_iters is None else max_iters
    schedulers = build_param_schedulers(cfg, OptimWrapper(optimizer), epoch_length, max_epochs, max_iters)
    return coverage_warnings(cfg, schedulers, max_epochs, max_iters)


def test_a_schedule_reaching_past_training_is_cut_off() -> None:
    """The seed's LinearLR + CosineAnnealing-style schedule (to 400 epochs) with max_epochs = 200."""
    cfg = [
        {"type": "LinearLR", "start_factor": 1e-4, "end": 40, "convert_to_iter_based": True},
        {"type": "PolyLR", "begin": 40, "end": 300},
    ]
    assert warnings_for(cfg) == [
        "param_scheduler[1] (PolyLR) ends at epoch 300 but training runs 200 epochs: the schedule is cut off"
    ]


def test_a_schedule_ending_early_leaves_the_last_value() -> None:
    cfg = [
        {"type": "LinearLR", "end": 5, "by_epoch": False},
        {"type": "MultiStepLR", "milestones": [30], "end": 100},
    ]
    assert warnings_for(cfg) == [
        "the lr schedule covers epochs 0-100 of 200: lr stays at its last value for the rest "
        "(leave out the last scheduler's end to make it follow the training length)"
    ]


def test_iteration_units_when_the_schedule_is_iteration_based() -> None:
    cfg = [
        {"type": "LinearLR", "by_epoch": False, "end": 500},
        {"type": "PolyLR", "by_epoch": False, "begin": 500, "end": 1500},
    ]
    assert warnings_for(cfg, max_epochs=200, epoch_length=10) == [
        "the lr schedule covers iterations 0-1500 of 2000: lr stays at its last value for the rest "
        "(leave out the last scheduler's end to make it follow the training length)"
    ]
    assert warnings_for(cfg, max_epochs=100, epoch_length=10) == [
        "param_scheduler[1] (PolyLR) ends at iteration 1500 but training runs 1000 iterations: the schedule is cut off"
    ]


def test_a_scheduler_beginning_after_training_never_acts() -> None:
    cfg = {"type": "StepLR", "step_size": 10, "begin": 250, "end": 300}
    assert warnings_for(cfg) == [
        "param_scheduler (StepLR) begins at epoch 250 but training runs 200 epochs: it never acts"
    ]


@pytest.mark.parametrize(
    "cfg",
    [
        [{"type": "LinearLR", "end": 5, "by_epoch": False}, {"type": "MultiStepLR", "milestones": [30, 60]}],
        [
            {"type": "LinearLR", "start_factor": 1e-4, "end": 40, "convert_to_iter_based": True},
            {"type": "PolyLR", "begin": 40},
        ],
        [{"type": "ExponentialLR", "gamma": 0.99, "end": 1_000_000_000}],
        [{"type": "OneCycleLR", "eta_max": 1.0}],
        [
            {"type": "LinearLR", "end": 200},
            {"type": "LinearMomentum", "start_factor": 0.9, "by_epoch": False},
        ],
        None,
    ],
)
def test_no_warning_when_the_last_end_is_left_out_or_fits(cfg: Any) -> None:
    assert warnings_for(cfg) == []


def test_each_scheduled_key_is_checked_on_its_own() -> None:
    cfg = [
        {"type": "MultiStepLR", "milestones": [30]},
        {"type": "LinearMomentum", "start_factor": 0.5, "end": 10},
    ]
    assert warnings_for(cfg) == [
        "the momentum schedule covers epochs 0-10 of 200: momentum stays at its last value for the rest "
        "(leave out the last scheduler's end to make it follow the training length)"
    ]


def test_an_iteration_based_loop_is_one_epoch() -> None:
    """IterBasedTrainLoop: max_epochs is 1 and an epoch scheduler's default end (1) is the whole run."""
    assert warnings_for([{"type": "MultiStepLR", "milestones": [1]}], max_epochs=1, max_iters=1000) == []
    assert warnings_for(
        [{"type": "MultiStepLR", "milestones": [1], "end": 3}], max_epochs=1, max_iters=1000
    ) == [
        "param_scheduler[0] (MultiStepLR) ends at epoch 3 but training runs 1 epoch: the schedule is cut off"
    ]


def log_of(cfg: dict[str, Any]) -> str:
    Runner.from_config(cfg).train()
    return (Path(cfg["work_dir"]) / "run.log").read_text()


def test_the_runner_warns_at_the_start_of_training() -> None:
    cfg = tiny_config(param_scheduler=[{"type": "MultiStepLR", "milestones": [1], "end": 3}])
    log = log_of(cfg)
    warning = "WARNING - param_scheduler[0] (MultiStepLR) ends at epoch 3 but training runs 1 epoch: the schedule is cut off"
    assert warning in log
    assert log.index(warning) < log.index("Epoch(train)")


def test_the_runner_is_quiet_when_end_is_left_out() -> None:
    cfg = tiny_config(
        param_scheduler=[
            {"type": "LinearLR", "by_epoch": False, "end": 5},
            {"type": "MultiStepLR", "milestones": [1]},
        ]
    )
    assert "WARNING" not in log_of(cfg)
