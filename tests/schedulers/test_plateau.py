"""ReduceOnPlateauLR against torch's ReduceLROnPlateau, by hand, through the hook and in a real run."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.optim import lr_scheduler

from customrun_core.errors import ConfigError
from customrun_core.hooks.param_scheduler import ParamSchedulerHook
from customrun_core.optim import OptimWrapper
from customrun_core.runner import Runner
from customrun_core.schedulers import INF, LinearLR, ReduceOnPlateauLR, ReduceOnPlateauMomentum
from customrun_core.schedulers.build import build_param_schedulers
from customrun_core.testing import tiny_config

LOSSES = [1.0, 0.9, 0.9, 0.95, 0.91, 0.89, 0.8999, 0.92, 0.93, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1]


def make_optimizer(*group_lrs: float) -> torch.optim.SGD:
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr} for lr in group_lrs or (0.1,)]
    return torch.optim.SGD(groups, lr=0.1, momentum=0.9)


def run_ours(scheduler: Any, optimizer: Any, metrics: list[float], name: str = "loss") -> list[list[float]]:
    """The hook's calls for each epoch: ``step()`` after training, ``step(metrics)`` after validation."""
    seen = []
    for value in metrics:
        scheduler.step()
        scheduler.step({name: value, "other": 0.0})
        seen.append([g["lr"] for g in optimizer.param_groups])
    return seen


def run_torch(scheduler: Any, optimizer: Any, metrics: list[float]) -> list[list[float]]:
    seen = []
    for value in metrics:
        scheduler.step(value)
        seen.append([g["lr"] for g in optimizer.param_groups])
    return seen


@pytest.mark.parametrize(
    ("ours", "theirs", "metrics"),
    [
        ({}, {}, LOSSES + [1.2] * 8),  # the defaults: patience 10
        ({"patience": 1, "factor": 0.5}, {"patience": 1, "factor": 0.5}, LOSSES),
        ({"patience": 0, "cooldown": 2}, {"patience": 0, "cooldown": 2}, LOSSES),
        ({"patience": 1, "threshold": 0.05}, {"patience": 1, "threshold": 0.05}, LOSSES),
        (
            {"patience": 1, "threshold": 0.05, "threshold_rule": "abs"},
            {"patience": 1, "threshold": 0.05, "threshold_mode": "abs"},
            LOSSES,
        ),
        (
            {"patience": 0, "factor": 0.1, "min_value": 3e-4},
            {"patience": 0, "factor": 0.1, "min_lr": 3e-4},
            LOSSES,
        ),
        ({"rule": "greater", "patience": 1}, {"mode": "max", "patience": 1}, [-x for x in LOSSES]),
        (
            {"rule": "greater", "patience": 0, "min_value": [1e-3, 5e-2], "cooldown": 1},
            {"mode": "max", "patience": 0, "min_lr": [1e-3, 5e-2], "cooldown": 1},
            [-x for x in LOSSES],
        ),
    ],
)
def test_matches_torch_reduce_lr_on_plateau(ours: dict, theirs: dict, metrics: list[float]) -> None:
    """Torch's names: mode -> rule (min/max -> less/greater), threshold_mode -> threshold_rule,
    min_lr -> min_value; the same defaults otherwise (factor .1, patience 10, threshold 1e-4, rel)."""
    torch_optimizer = make_optimizer(0.1, 0.2)
    expected = run_torch(lr_scheduler.ReduceLROnPlateau(torch_optimizer, **theirs), torch_optimizer, metrics)
    optimizer = make_optimizer(0.1, 0.2)
    got = run_ours(ReduceOnPlateauLR(optimizer, **ours), optimizer, metrics)
    assert got == [pytest.approx(row, rel=1e-12) for row in expected]
    assert any(row != expected[0] for row in expected)  # each case does reduce


def test_by_hand_with_patience_and_a_window() -> None:
    """The window counts finished training epochs (MMEngine): the validation after epoch 1 falls
    before ``begin = 2``, the one after epoch 6 at ``end``."""
    optimizer = make_optimizer()
    scheduler = ReduceOnPlateauLR(optimizer, patience=1, factor=0.5, begin=2, end=6)
    got = run_ours(scheduler, optimizer, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    # epoch 1: outside; 2: best = 1.0; 3: bad 1; 4: bad 2 > 1 -> 0.05; 5: bad 1; 6+: outside
    assert [row[0] for row in got] == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.05])


def test_nothing_changes_when_only_epochs_are_counted() -> None:
    optimizer = make_optimizer()
    scheduler = ReduceOnPlateauLR(optimizer, patience=0)
    for _ in range(5):
        scheduler.step()
    assert optimizer.param_groups[0]["lr"] == 0.1
    assert scheduler.last_step == -1


def test_missing_monitor_is_a_config_error_naming_the_metrics() -> None:
    optimizer = make_optimizer()
    scheduler = ReduceOnPlateauLR(optimizer, monitor="accuracy/top")
    scheduler.step()
    with pytest.raises(ConfigError) as info:
        scheduler.step({"accuracy/top1": 90.0, "accuracy/top5": 99.0})
    assert info.value.key == "monitor"
    assert "ReduceOnPlateauLR monitors 'accuracy/top', which is not among the validation metrics" in str(
        info.value
    )
    assert "(accuracy/top1, accuracy/top5)" in str(info.value)
    assert "accuracy/top1" in info.value.suggestions


@pytest.mark.parametrize(
    ("table", "key", "match"),
    [
        ({"by_epoch": False}, "param_scheduler[0].by_epoch", "epoch-based only"),
        ({"convert_to_iter_based": True}, "param_scheduler[0].convert_to_iter_based", "cannot be converted"),
        ({"factor": 1.0}, "param_scheduler[0].factor", r"\[0, 1\)"),
        ({"rule": "min"}, "param_scheduler[0].rule", "one of 'less', 'greater'"),
        ({"threshold_rule": "relative"}, "param_scheduler[0].threshold_rule", "one of 'rel', 'abs'"),
        ({"patience": -1}, "param_scheduler[0].patience", ">= 0"),
        ({"min_value": [0.1, 0.2]}, "param_scheduler[0].min_value", "one value per parameter group"),
    ],
)
def test_bad_arguments_are_config_errors(table: dict, key: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        build_param_schedulers(
            [{"type": "ReduceOnPlateauLR", **table}], OptimWrapper(make_optimizer()), 5, 4, 20
        )
    assert info.value.key == key


class FakeRunner:
    def __init__(self, schedulers: list[Any]) -> None:
        self.param_schedulers = schedulers


def test_hook_reduces_after_validation_only() -> None:
    """after_train_iter and after_train_epoch leave it alone (the latter counts the epoch);
    after_val_epoch applies the rule; the other schedulers are stepped as before."""
    optimizer = make_optimizer()
    plateau = ReduceOnPlateauLR(optimizer, monitor="accuracy", rule="greater", patience=0, factor=0.5)
    warmup = LinearLR(optimizer, start_factor=0.5, end=2, by_epoch=False)
    runner, hook = FakeRunner([plateau, warmup]), ParamSchedulerHook()
    assert optimizer.param_groups[0]["lr"] == 0.05
    hook.after_train_iter(runner, 0)
    assert optimizer.param_groups[0]["lr"] == 0.1  # the warm-up ended
    hook.after_train_epoch(runner)
    assert (optimizer.param_groups[0]["lr"], plateau.state_dict()["_global_step"]) == (0.1, 1)
    hook.after_val_epoch(runner, metrics={"accuracy": 50.0})  # the first is the best so far
    hook.after_val_epoch(runner, metrics=None)  # a validation without metrics: nothing
    assert optimizer.param_groups[0]["lr"] == 0.1
    hook.after_train_epoch(runner)
    hook.after_val_epoch(runner, metrics={"accuracy": 40.0})
    assert optimizer.param_groups[0]["lr"] == 0.05
    assert warmup.last_step == 1  # stepped only by after_train_iter


def test_resumes_from_a_weights_only_checkpoint() -> None:
    optimizer = make_optimizer(0.1, 0.2)
    scheduler = ReduceOnPlateauLR(optimizer, patience=1, cooldown=1, min_value=[0.0, 0.01])
    run_ours(scheduler, optimizer, LOSSES[:5])
    buffer = io.BytesIO()
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, buffer)
    buffer.seek(0)
    checkpoint = torch.load(buffer, weights_only=True)
    resumed_optimizer = make_optimizer(0.1, 0.2)
    resumed = ReduceOnPlateauLR(resumed_optimizer, patience=1, cooldown=1, min_value=[0.0, 0.01])
    resumed_optimizer.load_state_dict(checkpoint["optimizer"])
    resumed.load_state_dict(checkpoint["scheduler"])
    assert run_ours(resumed, resumed_optimizer, LOSSES[5:]) == run_ours(scheduler, optimizer, LOSSES[5:])


def test_momentum_form_reduces_adams_beta1() -> None:
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=0.1, betas=(0.9, 0.99))
    scheduler = ReduceOnPlateauMomentum(optimizer, patience=0, factor=0.5)
    run_ours(scheduler, optimizer, [1.0, 2.0])
    assert optimizer.param_groups[0]["betas"] == (0.45, 0.99)


def train_lrs(cfg: dict[str, Any]) -> tuple[Runner, dict[int, set[float]]]:
    runner = Runner.from_config(cfg)
    runner.train()
    lrs: dict[int, set[float]] = {}
    for line in (Path(cfg["work_dir"]) / "scalars.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["mode"] == "train":
            lrs.setdefault(row["epoch"], set()).add(row["lr"])
    return runner, lrs


def test_reduces_on_validation_metrics_in_a_real_run() -> None:
    """No validation counts as an improvement after the first (threshold 1000, absolute), patience 0:
    the lr halves after each validation in the window [0, 4) of finished training epochs."""
    scheduler = {
        "type": "ReduceOnPlateauLR",
        "monitor": "accuracy/top1",
        "rule": "greater",
        "patience": 0,
        "factor": 0.5,
        "threshold": 1000.0,
        "threshold_rule": "abs",
    }
    cfg = tiny_config(train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 4}, param_scheduler=[scheduler])
    runner, lrs = train_lrs(cfg)
    assert lrs == {1: {0.1}, 2: {0.1}, 3: {0.05}, 4: {0.025}}
    # the validation after the last epoch falls at step 4 = end: no reduction
    assert runner.optim_wrapper.param_groups[0]["lr"] == 0.025
    (plateau,) = runner.param_schedulers
    assert (plateau.state_dict()["_global_step"], plateau.last_step) == (4, 2)
    assert plateau.best > 0


def test_a_monitor_the_run_does_not_produce_stops_it_at_the_first_validation() -> None:
    cfg = tiny_config(param_scheduler={"type": "ReduceOnPlateauLR", "end": INF})
    with pytest.raises(
        ConfigError, match=r"monitors 'loss', which is not among the validation metrics \(accuracy/top1\)"
    ):
        Runner.from_config(cfg).train()
