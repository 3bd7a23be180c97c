"""``customrun schedule``: every scheduled value at every iteration, checked against closed forms
written here by hand."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from click.testing import CliRunner, Result

from customrun_core.cli import cli
from customrun_core.cli.schedule import shown_iterations

MODEL = {
    "type": "ClassifierModel",
    "backbone": {"type": "MLP", "in_features": 64, "hidden_features": [], "num_classes": 10},
}
TRAIN_DATA = {"batch_size": 64, "dataset": {"type": "DigitsDataset", "split": "train"}}


def write_config(tmp_path: Path, **changes: Any) -> Path:
    cfg: dict[str, Any] = {
        "model": MODEL,
        "train_dataloader": TRAIN_DATA,
        "train_cfg": {"type": "EpochBasedTrainLoop", "max_epochs": 4},
        "optim_wrapper": {"optimizer": {"type": "SGD", "lr": 0.1, "momentum": 0.9}},
    }
    cfg.update(changes)
    cfg = {key: value for key, value in cfg.items() if value is not None}  # None: leave the key out
    path = tmp_path / "cfg.toml"
    path.write_text(tomli_w.dumps(cfg))
    return path


def schedule(*args: Any) -> Result:
    return CliRunner().invoke(cli, ["schedule", *map(str, args)])


def schedule_json(*args: Any) -> dict[str, Any]:
    result = schedule(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


WARMUP_THEN_STEPS = [
    {"type": "LinearLR", "start_factor": 0.25, "by_epoch": False, "end": 8},
    {"type": "MultiStepLR", "milestones": [2, 3], "gamma": 0.1},
]


def warmup_then_steps(i: int, base: float) -> float:
    """LinearLR over iterations 0..7 times MultiStepLR at epochs 2 and 3 (5 iterations an epoch)."""
    warmup = 0.25 + 0.75 * min(i, 7) / 7
    epoch = i // 5
    return base * warmup * 0.1 ** ((epoch >= 2) + (epoch >= 3))


def test_json_of_a_warmup_and_multistep_equals_the_closed_form(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        param_scheduler=WARMUP_THEN_STEPS,
        optim_wrapper={
            "optimizer": {"type": "SGD", "lr": 0.1, "momentum": 0.9},
            "paramwise_cfg": {"bias_lr_mult": 2.0},
        },
    )
    data = schedule_json(path, "--iters-per-epoch", 5)
    assert list(data) == ["iters_per_epoch", "max_iters", "values"]
    assert (data["iters_per_epoch"], data["max_iters"]) == (5, 20)
    assert list(data["values"]) == ["lr"]  # momentum is not scheduled
    lrs = data["values"]["lr"]
    assert len(lrs) == 20
    # two groups (weight, then bias at twice the lr), and no base pseudo group
    expected = [[warmup_then_steps(i, 0.1), warmup_then_steps(i, 0.2)] for i in range(20)]
    assert lrs == [pytest.approx(row, rel=1e-12) for row in expected]


def test_iteration_based_loop_has_max_iters_and_one_epoch(tmp_path: Path) -> None:
    """train_cfg.by_epoch = false: 12 iterations. An epoch-based scheduler (the momentum warm-up)
    would step once, after the run, so its first value would hold throughout: refused (issue 21,
    item 3; it was simulated that way before)."""
    schedulers = [
        {"type": "LinearLR", "start_factor": 0.5, "by_epoch": False, "end": 4},
        {"type": "ExponentialLR", "gamma": 0.9, "by_epoch": False, "begin": 4},
        {"type": "LinearMomentum", "start_factor": 0.5},
    ]
    path = write_config(tmp_path, train_cfg={"by_epoch": False, "max_iters": 12}, param_scheduler=schedulers)
    refused = schedule(path, "--iters-per-epoch", 7)
    assert refused.exit_code == 2
    assert "param_scheduler[2].by_epoch: LinearMomentum counts epochs" in refused.output
    path = write_config(
        tmp_path, train_cfg={"by_epoch": False, "max_iters": 12}, param_scheduler=schedulers[:2]
    )
    data = schedule_json(path, "--iters-per-epoch", 7)
    assert (data["iters_per_epoch"], data["max_iters"]) == (7, 12)
    expected_lr = [0.1 * (0.5 + 0.5 * min(i, 3) / 3) * 0.9 ** max(0, i - 4) for i in range(12)]
    assert data["values"]["lr"] == [pytest.approx([v], rel=1e-12) for v in expected_lr]


def test_adam_momentum_is_beta1(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        optim_wrapper={"optimizer": {"type": "AdamW", "lr": 1e-3, "betas": [0.9, 0.999]}},
        param_scheduler=[{"type": "StepMomentum", "step_size": 1, "gamma": 0.5, "by_epoch": True}],
    )
    data = schedule_json(path, "--iters-per-epoch", 2)
    assert list(data["values"]) == ["momentum"]
    assert data["values"]["momentum"] == [pytest.approx([0.9 * 0.5 ** (i // 2)]) for i in range(8)]


def test_epoch_length_is_the_train_dataloaders_length(tmp_path: Path) -> None:
    """Digits has 1438 training images: 23 batches of 64."""
    path = write_config(tmp_path, param_scheduler=[{"type": "MultiStepLR", "milestones": [1]}])
    data = schedule_json(path)
    assert (data["iters_per_epoch"], data["max_iters"]) == (math.ceil(1438 / 64), 4 * 23)
    assert data["values"]["lr"] == [pytest.approx([0.1 if i < 23 else 0.01]) for i in range(92)]


def test_convert_to_iter_based_uses_the_epoch_length(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        param_scheduler=[{"type": "MultiStepLR", "milestones": [1, 3], "convert_to_iter_based": True}],
    )
    data = schedule_json(path, "--iters-per-epoch", 3)
    assert data["values"]["lr"] == [pytest.approx([0.1 * 0.1 ** ((i >= 3) + (i >= 9))]) for i in range(12)]


EXPLODING = """
class Exploding:
    def __init__(self):
        raise RuntimeError("the train dataset was built")
"""


def test_iters_per_epoch_builds_no_dataset(tmp_path: Path, customrun_distribution: Any) -> None:
    customrun_distribution(
        "exploding-dataset",
        entry_points={"customrun.datasets": {"Exploding": "exploding_dataset:Exploding"}},
        modules={"exploding_dataset.py": EXPLODING},
    )
    path = write_config(
        tmp_path,
        train_dataloader={"dataset": {"type": "Exploding"}},
        param_scheduler=[{"type": "ExponentialLR", "gamma": 0.5}],
    )
    data = schedule_json(path, "--iters-per-epoch", 2)
    assert data["values"]["lr"] == [pytest.approx([0.1 * 0.5 ** (i // 2)]) for i in range(8)]
    built = schedule(path, "--json")
    assert built.exit_code == 2  # the dataset's RuntimeError, as one line (issue 20, item 8)
    assert "the train dataset was built" in built.output


def test_reduce_on_plateau_is_held_and_said_so(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        param_scheduler=[
            {"type": "LinearLR", "start_factor": 0.5, "end": 2},
            {"type": "ReduceOnPlateauLR", "monitor": "accuracy/top1", "rule": "greater", "patience": 0},
        ],
    )
    result = schedule(path, "--iters-per-epoch", 2, "--json")
    assert result.exit_code == 0
    assert result.stderr == (
        "note: param_scheduler[1] (ReduceOnPlateauLR) changes lr on validation metrics, which a "
        "simulation does not have: its values are held\n"
    )
    assert json.loads(result.stdout)["values"]["lr"] == [pytest.approx([v]) for v in [0.05, 0.05] + [0.1] * 6]


def test_coverage_warnings_go_to_stderr(tmp_path: Path) -> None:
    path = write_config(tmp_path, param_scheduler=[{"type": "MultiStepLR", "milestones": [1], "end": 10}])
    result = schedule(path, "--iters-per-epoch", 2, "--json")
    assert result.stderr == (
        "warning: param_scheduler[0] (MultiStepLR) ends at epoch 10 but training runs 4 epochs: "
        "the schedule is cut off\n"
    )
    json.loads(result.stdout)


def test_table_shows_every_row_of_a_short_run(tmp_path: Path) -> None:
    path = write_config(tmp_path, param_scheduler=WARMUP_THEN_STEPS)
    result = schedule(path, "--iters-per-epoch", 5)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["iter", "epoch", "lr"]
    assert len(lines) == 21
    assert lines[1].split() == ["0", "0", "0.025"]
    assert lines[20].split() == ["19", "3", "0.001"]


def test_table_of_a_long_run_is_thinned_and_says_how(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 100},
        param_scheduler=[
            {"type": "LinearLR", "start_factor": 0.1, "by_epoch": False, "end": 30},
            {"type": "MultiStepLR", "milestones": [37, 81]},
        ],
    )
    result = schedule(path, "--iters-per-epoch", 50)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    rows = {int(line.split()[0]): line.split() for line in lines[1:] if line[:1] != "("}
    assert len(rows) < 60
    assert {0, 1, 29, 4999, 37 * 50, 81 * 50} <= set(rows)  # warm-up start and end, milestones, last
    assert rows[37 * 50][1:] == ["37", "0.01"]
    assert rows[37 * 50 - 50][2] == "0.1"
    assert lines[-1].startswith("(showing ")
    assert (
        "iterations: one in every 150, the last, and those where a value starts or stops changing"
        in lines[-1]
    )


def test_shown_iterations_rounds_the_stride_to_whole_epochs() -> None:
    rows = [[1.0]] * 10_000
    shown, how = shown_iterations(rows, epoch_length=100, by_epoch=True, limit=40)
    assert shown[:3] == [0, 300, 600]
    assert shown[-1] == 9_999
    assert how is not None and "one in every 300," in how


def test_no_work_dir_is_created(tmp_path: Path) -> None:
    path = write_config(tmp_path, param_scheduler=WARMUP_THEN_STEPS, work_dir=str(tmp_path / "work"))
    schedule_json(path, "--iters-per-epoch", 5)
    assert not (tmp_path / "work").exists()
    assert not (Path.cwd() / "work_dirs").exists()


@pytest.mark.parametrize(
    ("changes", "args", "message"),
    [
        ({"optim_wrapper": None}, ["--iters-per-epoch", "2"], "optim_wrapper: required to compute the schedule"),
        ({"train_dataloader": None}, [], "train_dataloader: required to compute the schedule"),
        ({"param_scheduler": [{"type": "LinearLR", "strat_factor": 0.5}]}, ["--iters-per-epoch", "2"], "param_scheduler[0].strat_factor: LinearLR has no argument"),
    ],
)  # fmt: skip
def test_config_errors_are_one_line(tmp_path: Path, changes: dict, args: list[str], message: str) -> None:
    path = write_config(tmp_path, **changes)
    result = schedule(path, *args)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}: {message}")
    assert len(result.stderr.splitlines()) == 1


def test_help_imports_no_torch() -> None:
    probe = (
        "import sys\nfrom customrun_core.cli import cli\n"
        "try:\n    cli(['schedule', '--help'], prog_name='customrun')\nexcept SystemExit:\n    pass\n"
        "print('TORCH', any(m.split('.')[0] == 'torch' for m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert "--iters-per-epoch" in out
    assert out.rstrip().endswith("TORCH False")
