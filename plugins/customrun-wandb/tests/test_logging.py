"""WandbLoggerHook: the logged records and the resolved config in offline W&B runs, read back by wandb."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from customrun_core import Hook

WANDB = {"type": "WandbLoggerHook", "init_kwargs": {"project": "customrun-tests"}}


def _rows(work_dir: Path) -> list[dict[str, Any]]:
    """What scalars.jsonl holds, as the W&B rows it should become: ``step``, ``epoch``, ``<mode>/<name>``."""
    rows = []
    for line in (work_dir / "scalars.jsonl").read_text().splitlines():
        record = json.loads(line)
        values = {f"{record['mode']}/{k}": v for k, v in record.items() if k not in ("mode", "step", "epoch")}
        rows.append({"step": record["step"], "epoch": record["epoch"], **values})
    return rows


def test_rows_hold_the_logged_values_at_the_logged_steps_and_the_config(customrun_run, wandb_runs) -> None:
    result = customrun_run(
        custom_hooks=[WANDB],
        train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 2},
        default_hooks={"logger": {"interval": 5}},
    )
    [run] = wandb_runs(result.work_dir)
    rows = _rows(result.work_dir)
    # window means every 5 iterations and at each epoch's end (23 per epoch), validation per epoch
    assert [r["step"] for r in rows if "train/loss" in r] == [5, 10, 15, 20, 23, 28, 33, 38, 43, 46]
    assert [r["step"] for r in rows if "val/accuracy/top1" in r] == [23, 46]
    assert run["rows"] == rows  # the same values, bit for bit (both are float64 in JSON)
    assert run["config"] == tomllib.loads((result.work_dir / "config.toml").read_text())
    assert run["exit_code"] == 0
    step_axes = {m.get("glob_name"): m.get("step_metric") for m in run["metrics"]}
    assert step_axes == {None: None, "train/*": "step", "val/*": "step", "test/*": "step"}


def test_an_iteration_run_and_a_test_run(customrun_run, wandb_runs) -> None:
    result = customrun_run(
        custom_hooks=[WANDB], train_cfg={"type": "IterBasedTrainLoop", "max_iters": 12, "val_interval": 6}
    )
    result.runner.test()  # a second run of the same runner: a second W&B run, started by its record
    trained, tested = wandb_runs(result.work_dir)
    rows = _rows(result.work_dir)
    assert [r["step"] for r in rows if "train/loss" in r] == [10, 12]
    assert trained["rows"] == [r for r in rows if "test/accuracy/top1" not in r]
    assert tested["rows"] == [r for r in rows if "test/accuracy/top1" in r] != []
    assert tested["run_id"] != trained["run_id"]


def test_a_nonfinite_value_is_logged_as_it_is(customrun_run, wandb_runs) -> None:
    class Diverge(Hook):
        priority = "VERY_HIGH"

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
            if runner.iter == 2:
                runner.scalars.update("grad_norm", float("inf"))

    result = customrun_run(custom_hooks=[WANDB], hooks=[Diverge()], default_hooks={"logger": {"interval": 5}})
    [run] = wandb_runs(result.work_dir)
    assert [(r["step"], r["train/grad_norm"]) for r in run["rows"] if "train/grad_norm" in r] == [
        (5, "Infinity")  # wandb's JSON for float("inf")
    ]


def test_the_files_go_to_init_kwargs_dir_then_wandb_dir_then_the_work_dir(
    customrun_run, wandb_runs, tmp_path, monkeypatch
) -> None:
    relative = customrun_run(custom_hooks=[{**WANDB, "init_kwargs": {"dir": "tracking"}}])
    assert len(wandb_runs(relative.work_dir / "tracking")) == 1
    assert not (relative.work_dir / "wandb").exists()
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "from-env"))
    customrun_run(custom_hooks=[WANDB], work_dir="work2")
    assert len(wandb_runs(tmp_path / "from-env")) == 1
    assert not (tmp_path / "work2" / "wandb").exists()


def test_define_metric_cfg_reaches_wandb(customrun_run, wandb_runs) -> None:
    result = customrun_run(
        custom_hooks=[{**WANDB, "define_metric_cfg": {"val/accuracy/top1": "max"}}],
        train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 3},
    )
    [run] = wandb_runs(result.work_dir)
    accuracies = [r["val/accuracy/top1"] for r in _rows(result.work_dir) if "val/accuracy/top1" in r]
    assert len(accuracies) == 3
    assert run["summary"]["val/accuracy/top1"] == {"max": max(accuracies)}


def test_a_define_metric_name_that_no_row_holds_is_one_warning(customrun_run) -> None:
    result = customrun_run(
        custom_hooks=[{**WANDB, "define_metric_cfg": [{"name": "coco/*", "summary": "max"}]}]
    )
    log = (result.work_dir / "run.log").read_text(encoding="utf-8")
    [warning] = [line for line in log.splitlines() if "define_metric_cfg" in line]
    assert warning.endswith(
        "WandbLoggerHook: define_metric_cfg names 'coco/*', which no row holds: customrun logs"
        " '<mode>/<name>' (e.g. 'val/coco/*')"
    )


def test_watch_kwargs_log_the_gradients(customrun_run, wandb_runs) -> None:
    result = customrun_run(custom_hooks=[{**WANDB, "watch_kwargs": {"log": "gradients", "log_freq": 1}}])
    [run] = wandb_runs(result.work_dir)
    assert any(name.startswith("gradients/") for row in run["rows"] for name in row)


def test_log_code_name_saves_the_working_directorys_python_files(customrun_run, wandb_runs, tmp_path) -> None:
    (tmp_path / "my_model.py").write_text("WIDTH = 32\n")
    result = customrun_run(custom_hooks=[{**WANDB, "log_code_name": "digits-code"}])
    [run] = wandb_runs(result.work_dir)
    assert run["artifacts"] == {"digits-code": ("code", ["my_model.py"])}


def test_the_run_is_finished_after_an_error(customrun_run, wandb_runs) -> None:
    class Boom(Hook):
        priority = "LOWEST"  # after the LoggerHook has just logged step 10

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
            if runner.iter + 1 == 10:
                raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        customrun_run(hooks=[Boom()], custom_hooks=[WANDB], default_hooks={"logger": {"interval": 5}})
    [run] = wandb_runs(Path("work"))
    assert [r["step"] for r in run["rows"]] == [5, 10]
    assert run["exit_code"] == 1  # W&B shows the run as failed


def test_the_hook_runs_at_no_hook_point_per_iteration(customrun_run) -> None:
    result = customrun_run(custom_hooks=[WANDB])
    points = {
        p
        for p, impls in result.runner.hooks.order().items()
        for name, _ in impls
        if name == "WandbLoggerHook"
    }
    assert points == {
        "before_run",
        "after_load_checkpoint",
        "before_train",
        "after_log_record",
        "before_save_checkpoint",
        "after_train",
        "after_val",
        "after_test",
        "after_run",
    }


def test_the_summary_names_the_last_checkpoint_of_a_run_that_saved_one(customrun_run, wandb_runs) -> None:
    trained = customrun_run(custom_hooks=[WANDB], train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 2})
    [run] = wandb_runs(trained.work_dir)
    name = (trained.work_dir / "last_checkpoint").read_text().strip()
    assert name == "epoch_2.pt"
    assert run["summary"]["last_checkpoint"] == str((trained.work_dir / name).resolve())
    trained.runner.test()  # saves nothing: its W&B run names no checkpoint
    tested = wandb_runs(trained.work_dir)[1]
    assert "last_checkpoint" not in tested["summary"] and tested["exit_code"] == 0


def test_only_rank_0_registers_the_hook() -> None:
    from customrun_wandb import WandbLoggerHook

    hook = WandbLoggerHook()
    assert hook.wanted(0) and not hook.wanted(1)


def test_the_summary_names_the_best_checkpoint_of_save_best(customrun_run, wandb_runs) -> None:
    result = customrun_run(
        custom_hooks=[WANDB],
        train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 3},
        default_hooks={"checkpoint": {"save_best": "accuracy/top1"}},
    )
    [run] = wandb_runs(result.work_dir)
    accuracies = [r["val/accuracy/top1"] for r in _rows(result.work_dir) if "val/accuracy/top1" in r]
    epoch = accuracies.index(max(accuracies)) + 1  # the first epoch with the highest accuracy ("greater")
    best = result.work_dir / f"best_accuracy_top1_epoch_{epoch}.pt"  # MMEngine's name, customrun's suffix
    assert best.is_file()
    assert run["summary"]["best_checkpoint"] == {"accuracy/top1": str(best.resolve())}
