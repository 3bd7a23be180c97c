"""Epochs under an iteration-based train loop (issue 21, item 3): an epoch-based scheduler or
checkpoint interval is refused in one line at its key (it would never act: the loop's one epoch
is the whole run), ``convert_to_iter_based`` converts as MMEngine does over the whole run, and
iteration runs name checkpoints and validation lines by iteration. References: torch's own
schedulers stepped once per iteration, and file names counted by hand."""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch

ITER_LOOP = {"type": "IterBasedTrainLoop", "max_iters": 6, "val_interval": 3}
FAST = {
    "batch_size": 512,
    "shuffle": True,
    "dataset": {"type": "DigitsDataset", "split": "train"},
}  # 3 batches


def torch_lrs(scheduler: type, iterations: int, **kwargs: Any) -> list[float]:
    """The lr of each iteration under ``torch.optim.lr_scheduler.<scheduler>`` stepped after each."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    schedule = scheduler(optimizer, **kwargs)
    lrs = []
    for _ in range(iterations):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    return lrs


def one_line_error(result: Any) -> str:
    assert result.exit_code == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.mark.parametrize("command", ["train", "schedule"])
def test_an_epoch_based_scheduler_under_an_iteration_loop_is_one_line_at_its_key(
    customrun_cli, customrun_config, command
) -> None:
    """The digits example's schedule with the loop switched: MultiStepLR (by_epoch defaults to
    true) never fired before; now train and schedule refuse it alike."""
    path = customrun_config(
        train_cfg={"type": "IterBasedTrainLoop", "max_iters": 30},
        param_scheduler=[
            {"type": "LinearLR", "start_factor": 0.1, "by_epoch": False, "end": 10},
            {"type": "MultiStepLR", "milestones": [7, 9], "gamma": 0.1},
        ],
    )
    line = one_line_error(customrun_cli(command, path))
    assert f"{path}: param_scheduler[1].by_epoch: MultiStepLR counts epochs" in line
    assert "set by_epoch = false and give milestones, begin and end in iterations" in line
    assert "convert_to_iter_based = true" in line


def test_iteration_milestones_give_torchs_multisteplr_at_every_iteration(customrun_run, customrun_cli,
                                                                          customrun_config) -> None:  # fmt: skip
    """by_epoch = false with milestones in iterations: the lr of every iteration of a real run
    (scalars.jsonl, logged every iteration) and of ``customrun schedule`` is torch's."""
    changes = {
        "train_dataloader": FAST,
        "train_cfg": {"type": "IterBasedTrainLoop", "max_iters": 12, "val_interval": 6},
        "param_scheduler": [
            {"type": "MultiStepLR", "by_epoch": False, "milestones": [4, 9, 9], "gamma": 0.5}
        ],
        "default_hooks": {"logger": {"interval": 1}},
    }
    expected = torch_lrs(torch.optim.lr_scheduler.MultiStepLR, 12, milestones=[4, 9, 9], gamma=0.5)
    assert expected[3:5] == [0.1, 0.05] and expected[8:10] == [0.05, 0.0125]  # the hand count
    result = customrun_run(**changes)
    records = [json.loads(line) for line in (result.work_dir / "scalars.jsonl").read_text().splitlines()]
    logged = {r["step"]: r["lr"] for r in records if r["mode"] == "train"}
    assert [logged[i + 1] for i in range(12)] == pytest.approx(expected, rel=1e-12)
    shown = customrun_cli("schedule", customrun_config(**changes), "--json")
    assert shown.exit_code == 0, shown.stderr
    assert [v[0] for v in json.loads(shown.stdout)["values"]["lr"]] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("table", "scheduler", "kwargs"),
    [
        # milestones in epochs times the epoch length (5 iterations)
        ({"type": "MultiStepLR", "milestones": [1, 3]}, "MultiStepLR", {"milestones": [5, 15]}),
        # no end: the end of training (20 iterations), not one epoch (MMEngine's max_epochs = 1, scaled)
        ({"type": "LinearLR", "start_factor": 0.25}, "LinearLR", {"start_factor": 0.25, "total_iters": 19}),
    ],
)
def test_convert_to_iter_based_under_an_iteration_loop(customrun_cli, customrun_config, table, scheduler,
                                                       kwargs) -> None:  # fmt: skip
    path = customrun_config(
        train_cfg={"type": "IterBasedTrainLoop", "max_iters": 20},
        param_scheduler=[{**table, "convert_to_iter_based": True}],
    )
    shown = customrun_cli("schedule", path, "--iters-per-epoch", "5", "--json")
    assert shown.exit_code == 0, shown.stderr
    expected = torch_lrs(getattr(torch.optim.lr_scheduler, scheduler), 20, **kwargs)
    assert [v[0] for v in json.loads(shown.stdout)["values"]["lr"]] == pytest.approx(expected, rel=1e-12)


def test_reduce_on_plateau_is_accepted_under_an_iteration_loop(customrun_cli, customrun_config) -> None:
    """It acts after each validation, which an iteration-based loop runs every val_interval."""
    path = customrun_config(
        train_cfg=ITER_LOOP, param_scheduler=[{"type": "ReduceOnPlateauLR", "monitor": "accuracy/top1"}]
    )
    assert customrun_cli("schedule", path, "--iters-per-epoch", "3").exit_code == 0


@pytest.mark.parametrize(
    ("checkpoint", "files"),
    [
        ({}, ["iter_3.pt", "iter_6.pt"]),  # interval: the loop's val_interval
        ({"interval": 2}, ["iter_2.pt", "iter_4.pt", "iter_6.pt"]),
        ({"interval": 4, "by_epoch": False}, ["iter_4.pt", "iter_6.pt"]),  # the last, with save_last
    ],
)
def test_an_iteration_run_names_checkpoints_and_validations_by_iteration(customrun_run, checkpoint,
                                                                         files) -> None:  # fmt: skip
    result = customrun_run(
        train_dataloader=FAST, train_cfg=ITER_LOOP, default_hooks={"checkpoint": checkpoint}
    )
    assert sorted(p.name for p in result.work_dir.glob("*.pt")) == files
    assert (result.work_dir / "last_checkpoint").read_text().strip() == "iter_6.pt"
    log = (result.work_dir / "run.log").read_text()
    assert "Iter(val) [3][1/1]" in log and "Iter(val) [6][1/1]" in log  # 180 val images, batches of 256
    assert "Epoch(val)" not in log


def test_checkpoint_by_epoch_true_under_an_iteration_loop_is_one_line(
    customrun_cli, customrun_config
) -> None:
    path = customrun_config(
        train_cfg=ITER_LOOP, default_hooks={"checkpoint": {"by_epoch": True, "interval": 1}}
    )
    line = one_line_error(customrun_cli("train", path))
    assert f"{path}: default_hooks.checkpoint.by_epoch: by_epoch = true counts epochs" in line
    assert "set by_epoch = false" in line


def test_an_epoch_run_is_unchanged(customrun_run) -> None:
    result = customrun_run(train_dataloader=FAST, train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 2})
    assert sorted(p.name for p in result.work_dir.glob("*.pt")) == ["epoch_1.pt", "epoch_2.pt"]
    assert "Epoch(val) [2][1/1]" in (result.work_dir / "run.log").read_text()
