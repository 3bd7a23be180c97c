"""``customrun test --checkpoint best`` / ``best:METRIC``, and save_best's mistakes on the command line:
one line, exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

import torch

FAST = {"batch_size": 512, "shuffle": True, "dataset": {"type": "DigitsDataset", "split": "train"}}


def trained(customrun_cli, customrun_config, checkpoint: dict, epochs: int = 2, **changes) -> Path:
    config = customrun_config(
        train_dataloader=FAST,
        train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": epochs},
        default_hooks={"checkpoint": checkpoint},
        test_evaluator={"type": "Accuracy", "topk": [1, 2]},
        **changes,
    )
    result = customrun_cli("train", config)
    assert result.exit_code == 0, result.stderr
    return config


def test_best_is_the_file_the_marker_names(customrun_cli, customrun_config, tmp_path: Path) -> None:
    config = trained(customrun_cli, customrun_config, {"save_best": "auto"})
    marker = json.loads((tmp_path / "work" / "best_checkpoints.json").read_text())
    best = tmp_path / "work" / marker["accuracy/top1"]["path"]
    by_name = customrun_cli("test", config, "--checkpoint", best)
    by_best = customrun_cli("test", config, "--checkpoint", "best")
    assert by_best.exit_code == 0, by_best.stderr
    assert json.loads(by_best.stdout.splitlines()[-1]) == json.loads(by_name.stdout.splitlines()[-1])
    # the file holds the epoch the marker says
    assert torch.load(best, weights_only=True)["meta"]["epoch"] == marker["accuracy/top1"]["step"]


def test_several_metrics_need_a_name(customrun_cli, customrun_config, tmp_path: Path) -> None:
    config = trained(
        customrun_cli,
        customrun_config,
        {"save_best": ["accuracy/top1", "accuracy/top2"]},
        val_evaluator={"type": "Accuracy", "topk": [1, 2]},
    )
    ambiguous = customrun_cli("test", config, "--checkpoint", "best")
    assert ambiguous.exit_code == 2
    assert ambiguous.stderr_lines == [
        f"error: --checkpoint: {tmp_path / 'work'} has best checkpoints of 2 metrics (accuracy/top1, accuracy/top2): "
        "name one, e.g. --checkpoint best:accuracy/top1"
    ]
    named = customrun_cli("test", config, "--checkpoint", "best:accuracy/top2")
    assert named.exit_code == 0, named.stderr
    misspelt = customrun_cli("test", config, "--checkpoint", "best:accuracy/top3")
    assert misspelt.exit_code == 2
    assert misspelt.stderr_lines == [
        f"error: --checkpoint: {tmp_path / 'work'} has no best checkpoint of 'accuracy/top3' (it has "
        "accuracy/top1, accuracy/top2) (did you mean 'accuracy/top2'?)"
    ]


def test_no_best_checkpoint_is_one_line(customrun_cli, customrun_config) -> None:
    config = trained(customrun_cli, customrun_config, {}, epochs=1)
    result = customrun_cli("test", config, "--checkpoint", "best")
    assert result.exit_code == 2
    assert len(result.stderr_lines) == 1
    assert "has no best checkpoint (best_checkpoints.json is missing)" in result.stderr_lines[0]


def test_unknown_save_best_metric_exits_2_with_the_checkpoint_on_disk(
    customrun_cli, customrun_config, tmp_path: Path
) -> None:
    config = customrun_config(
        train_dataloader=FAST,
        train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 3},
        default_hooks={"checkpoint": {"interval": 2, "save_best": "acc"}},
    )
    result = customrun_cli("train", config)
    assert result.exit_code == 2
    assert result.stderr_lines == [
        f"error: {config}: default_hooks.checkpoint.save_best: expected a metric the validation reports "
        f"(accuracy/top1), got 'acc'; training stopped with {tmp_path / 'work' / 'epoch_1.pt'} saved: fix "
        "save_best and resume"
    ]
    assert (tmp_path / "work" / "epoch_1.pt").is_file()
    # fixed, the run resumes from there
    fixed = customrun_cli(
        "train", config, "--set", 'default_hooks.checkpoint.save_best="accuracy/top1"', "--resume"
    )
    assert fixed.exit_code == 0, fixed.stderr
    assert sorted(p.name for p in (tmp_path / "work").glob("best_*.pt"))


def test_a_rule_that_cannot_be_inferred_is_refused_before_training(customrun_cli, customrun_config) -> None:
    config = customrun_config(default_hooks={"checkpoint": {"save_best": "FID"}})
    result = customrun_cli("train", config)
    assert result.exit_code == 2
    assert result.stderr_lines == [
        f"error: {config}: default_hooks.checkpoint.rule: cannot tell whether a greater or a smaller 'FID' is "
        "better (its name contains none of greater_keys ['acc', 'top', 'AR@', 'auc', 'precision', 'mAP', "
        "'mDice', 'mIoU', 'mAcc', 'aAcc'] or less_keys ['loss']): set rule = \"greater\" or \"less\""
    ]
