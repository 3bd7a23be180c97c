"""What the console says about a run: no hook-order wall before the first line of training (it is in
run.log, and on stderr with --trace-hooks), the last validation metric on the progress bar, and one
summary line when training ends, checked against the run's own scalars.jsonl."""

from __future__ import annotations

import io
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

from customrun_core.hooks.progress import ProgressBarHook
from customrun_core.hooks.summary import MetricHistory, infer_rule, leading_metric

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
TABLE_HEAD = "hooks will be executed in the following order:"


def _val(work_dir: Path) -> list[dict[str, Any]]:
    lines = (work_dir / "scalars.jsonl").read_text(encoding="utf-8").splitlines()
    return [r for r in map(json.loads, lines) if r["mode"] == "val"]


def _summary(work_dir: Path) -> list[str]:
    log = (work_dir / "run.log").read_text(encoding="utf-8").splitlines()
    return [line.split(" - INFO - ", 1)[1] for line in log if " - INFO - training ended at " in line]


# -- the hook order ------------------------------------------------------------------------------


def test_the_hook_order_is_in_run_log_not_on_the_console(customrun_config, customrun_cli) -> None:
    config = customrun_config()
    result = customrun_cli("train", str(config))
    assert result.exit_code == 0, result.stderr
    assert TABLE_HEAD not in result.stdout + result.stderr
    assert "(BELOW_NORMAL) LoggerHook" not in result.stdout
    assert "Epoch(train) [1][10/23]" in result.stdout  # the run's lines are still there
    log = (config.parent / "work" / "run.log").read_text(encoding="utf-8")
    assert TABLE_HEAD in log and "    (BELOW_NORMAL) LoggerHook" in log


def test_trace_hooks_prints_the_hook_order_with_the_traces(customrun_config, customrun_cli) -> None:
    result = customrun_cli("train", str(customrun_config()), "--trace-hooks", "before_run")
    assert result.exit_code == 0, result.stderr
    assert TABLE_HEAD not in result.stdout
    stderr = result.stderr.splitlines()
    start = stderr.index(TABLE_HEAD)
    assert "  after_train_iter:" in stderr[start:]
    assert any(line.startswith("[trace] before_run ") for line in stderr)


# -- the summary line ------------------------------------------------------------------------------


def test_the_summary_line_gives_the_final_and_best_metric_from_scalars_jsonl(customrun_run) -> None:
    result = customrun_run(train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 3})
    val = _val(result.work_dir)
    values = [r["accuracy/top1"] for r in val]
    best = max(range(3), key=lambda i: values[i])  # accuracy: greater is better (MMEngine's greater_keys)
    assert _summary(result.work_dir) == [
        f"training ended at epoch 3: accuracy/top1: final {values[-1]:.4f} (epoch 3), "
        f"best {values[best]:.4f} (epoch {val[best]['epoch']})"
    ]


def test_the_summary_of_an_iteration_based_run_counts_iterations(customrun_run) -> None:
    result = customrun_run(train_cfg={"type": "IterBasedTrainLoop", "max_iters": 30, "val_interval": 10})
    values = {r["step"]: r["accuracy/top1"] for r in _val(result.work_dir)}
    best = max(values, key=values.__getitem__)
    assert _summary(result.work_dir) == [
        f"training ended at iter 30: accuracy/top1: final {values[30]:.4f} (iter 30), "
        f"best {values[best]:.4f} (iter {best})"
    ]


def test_without_validation_the_summary_says_so(customrun_run) -> None:
    result = customrun_run(val_dataloader=None, val_evaluator=None, val_cfg=None)
    assert _summary(result.work_dir) == ["training ended at epoch 1: no validation ran"]


def test_a_resumed_run_s_summary_counts_the_validations_before_its_checkpoint(customrun_run) -> None:
    first = customrun_run(train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 4})
    resumed = customrun_run(
        train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 3},
        work_dir=str(first.work_dir),
        resume=str(first.work_dir / "epoch_2.pt"),
    )
    assert resumed.runner.epoch == 3
    val = _val(first.work_dir)  # the first run's 4, then the resumed run's epoch 3
    counted = [val[0], val[1], val[4]]  # not the first run's epochs 3 and 4, after epoch_2.pt
    assert [r["epoch"] for r in counted] == [1, 2, 3]
    best = max(counted, key=lambda r: r["accuracy/top1"])
    assert _summary(first.work_dir)[-1] == (
        f"training ended at epoch 3: accuracy/top1: final {val[4]['accuracy/top1']:.4f} (epoch 3), "
        f"best {best['accuracy/top1']:.4f} (epoch {best['epoch']})"
    )


def test_replay_takes_the_validations_up_to_the_checkpoint(tmp_path: Path) -> None:
    records = [
        {"mode": "val", "step": 10, "epoch": 1, "accuracy/top1": 90.0},
        {"mode": "train", "step": 15, "epoch": 2, "loss": 0.1},
        {"mode": "val", "step": 20, "epoch": 2, "accuracy/top1": 80.0},
        {"mode": "val", "step": 30, "epoch": 3, "accuracy/top1": 95.0},  # after the checkpoint
    ]
    scalars = tmp_path / "scalars.jsonl"
    scalars.write_text("".join(json.dumps(r) + "\n" for r in records) + '{"mode": "va', encoding="utf-8")
    history = MetricHistory()
    history.replay(scalars, up_to=2)
    assert history.describe() == "accuracy/top1: final 80.0000 (epoch 2), best 90.0000 (epoch 1)"
    by_iter = MetricHistory("iter")
    by_iter.replay(scalars, up_to=30)
    assert by_iter.describe() == "accuracy/top1: final 95.0000 (iter 30), best 95.0000 (iter 30)"


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("accuracy/top1", "greater"),  # contains 'acc' (MMEngine's greater_keys)
        ("mIoU", "greater"),
        ("aAcc", "greater"),
        ("coco/bbox_mAP", "greater"),
        ("loss", "less"),
        ("val_loss_ce", "less"),
        ("f1_score", None),
    ],
)
def test_the_rule_is_inferred_from_mmengine_s_key_lists(name: str, rule: str | None) -> None:
    assert infer_rule(name) == rule


def test_history_keeps_the_leading_metric_s_best_by_its_rule() -> None:
    assert leading_metric({"f1": 1.0, "loss": 2.0, "mIoU": 3.0}) == ("loss", "less")
    history = MetricHistory("iter")
    for where, value in ((100, 0.5), (200, 0.3), (250, 0.3), (300, math.nan), (400, 0.4)):
        history.add({"f1": 1.0, "loss": value}, where)
    assert (
        history.describe() == "loss: final 0.4000 (iter 400), best 0.3000 (iter 200)"
    )  # a tie keeps the first
    marker = {"f1": {"path": "best_f1_iter_100.pt", "score": 1.0, "step": 100, "rule": "greater"}}
    assert history.describe(marker, Path("work")) == (
        f"f1: final 1.0000 (iter 400), best 1.0000 (iter 100), best checkpoint {Path('work/best_f1_iter_100.pt')}"
    )
    unknown = MetricHistory()
    unknown.add({"f1": 0.7}, 1)
    assert unknown.describe() == (
        "f1: final 0.7000 (epoch 1) (no best: customrun cannot tell whether greater or less is better for this name)"
    )


@pytest.mark.parametrize("save_best", ["accuracy/top1", "accuracy/top5"])
def test_with_save_best_the_summary_names_the_best_checkpoint(customrun_run, save_best: str) -> None:
    result = customrun_run(
        train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 3},
        val_evaluator={"type": "Accuracy", "topk": [1, 5]},
        default_hooks={"checkpoint": {"type": "CheckpointHook", "interval": 1, "save_best": save_best}},
    )
    val = _val(result.work_dir)
    best = max(val, key=lambda r: r[save_best])  # max keeps the first of equal ones, as MMEngine does
    path = result.work_dir / f"best_{save_best.replace('/', '_')}_epoch_{best['epoch']}.pt"  # MMEngine's name
    assert path.exists()
    assert _summary(result.work_dir) == [
        f"training ended at epoch 3: {save_best}: final {val[-1][save_best]:.4f} (epoch 3), "
        f"best {best[save_best]:.4f} (epoch {best['epoch']}), best checkpoint {path}"
    ]


def test_an_older_run_s_best_checkpoint_is_not_this_run_s(customrun_run) -> None:
    first = customrun_run(default_hooks={"checkpoint": {"type": "CheckpointHook", "save_best": "auto"}})
    assert "best checkpoint" in _summary(first.work_dir)[0]
    again = customrun_run(work_dir=str(first.work_dir))  # no save_best now: the marker is the first run's
    assert "best checkpoint" not in _summary(again.work_dir)[1]


# -- the progress bar ------------------------------------------------------------------------------


def test_the_bar_shows_the_last_validation_metric(customrun_run) -> None:
    from rich.console import Console

    buffer = io.StringIO()
    bar = ProgressBarHook.drawing_on(Console(file=buffer, force_terminal=True, width=200, highlight=False))
    result = customrun_run(hooks=[bar], train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 3})
    values = [r["accuracy/top1"] for r in _val(result.work_dir)]
    drawn = ANSI.sub("", buffer.getvalue())
    assert f"val accuracy/top1 {values[0]:.4f}" in drawn
    assert f"val accuracy/top1 {values[1]:.4f}" in drawn
    before_validating = drawn.split("Epoch(val) [1][1/1]")[0]
    assert "Epoch 1/3" in before_validating and "val accuracy/top1" not in before_validating
