"""A resumed run continues its W&B run (the run id is hook state in checkpoints), bit-exact."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from customrun_core.testing import assert_resume_is_exact, tiny_config

WANDB = {"type": "WandbLoggerHook", "init_kwargs": {"project": "customrun-tests"}}
CONFIG = {
    "custom_hooks": [WANDB],
    "train_cfg": {"type": "IterBasedTrainLoop", "max_iters": 12},
    "default_hooks": {"logger": {"interval": 2}, "checkpoint": {"by_epoch": False, "interval": 6}},
}


def test_a_resumed_run_continues_the_checkpoints_wandb_run(customrun_run, wandb_runs) -> None:
    customrun_run(**CONFIG)  # as if it had been interrupted after iteration 12
    checkpoint = torch.load("work/iter_6.pt", weights_only=True)
    customrun_run(**CONFIG, resume="work/iter_6.pt")
    first, resumed = wandb_runs(Path("work"))
    assert checkpoint["wandb"] == {"run_id": first["run_id"]}
    assert resumed["run_id"] == first["run_id"] and resumed["resumed"] and not first["resumed"]
    lines = [json.loads(line) for line in Path("work/scalars.jsonl").read_text().splitlines()]
    train_steps = [r["step"] for r in lines if r["mode"] == "train"]
    assert train_steps == [2, 4, 6, 8, 10, 12, 8, 10, 12]
    # every record is a row of the one W&B run, the steps after the checkpoint twice, as in scalars.jsonl
    assert [r["step"] for r in first["rows"] + resumed["rows"] if "train/loss" in r] == train_steps


def test_loading_weights_starts_a_new_wandb_run(customrun_run, wandb_runs) -> None:
    customrun_run(**CONFIG)
    customrun_run(**CONFIG, load_from="work/iter_6.pt", work_dir="finetune")
    [trained] = wandb_runs(Path("work"))
    [finetuned] = wandb_runs(Path("finetune"))
    assert finetuned["run_id"] != trained["run_id"] and not finetuned["resumed"]


def test_resume_is_bit_exact_with_the_hook_on(tmp_path: Path, wandb_runs) -> None:
    """The final state includes the checkpoint's hook state: every resumed run has the full run's W&B id."""
    cfg = tiny_config(custom_hooks=[WANDB], randomness={"seed": 3, "deterministic": True})
    points = assert_resume_is_exact(cfg, tmp_path, every=9)
    assert points == [9, 18]
    [full] = wandb_runs(tmp_path / "full")
    for point in points:
        [resumed] = wandb_runs(tmp_path / f"from_{point}")
        assert resumed["run_id"] == full["run_id"] and resumed["resumed"]


def test_a_resumed_run_names_the_best_checkpoint_it_carried_on(customrun_run, wandb_runs) -> None:
    config = {
        "custom_hooks": [WANDB],
        "train_cfg": {"type": "EpochBasedTrainLoop", "max_epochs": 3},
        "default_hooks": {"checkpoint": {"save_best": "accuracy/top1"}},
    }
    customrun_run(**config)
    customrun_run(**config, resume="work/epoch_2.pt")
    first, resumed = wandb_runs(Path("work"))
    marker = json.loads(Path("work/best_checkpoints.json").read_text())  # what `test --checkpoint best` reads
    expected = {"accuracy/top1": str((Path("work") / marker["accuracy/top1"]["path"]).resolve())}
    assert first["summary"]["best_checkpoint"] == resumed["summary"]["best_checkpoint"] == expected
