"""Shared fixtures: customrun's testing plugin, a tiny config, and a CLI runner."""

from __future__ import annotations

import pytest

pytest_plugins = ["customrun_core.testing"]


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path, monkeypatch):
    """Every test runs in its own directory, so default work_dirs never collide."""
    monkeypatch.chdir(tmp_path)


def tiny_config(**changes) -> dict:
    """A config that trains in about a second: the digits MLP, one epoch, validation included."""
    cfg = {
        "model": {"type": "ClassifierModel", "backbone": {"type": "MLP", "in_features": 64, "num_classes": 10, "hidden_features": [32]}},
        "train_dataloader": {"batch_size": 64, "shuffle": True, "dataset": {"type": "DigitsDataset", "split": "train"}},
        "val_dataloader": {"batch_size": 256, "dataset": {"type": "DigitsDataset", "split": "val"}},
        "test_dataloader": {"batch_size": 256, "dataset": {"type": "DigitsDataset", "split": "test"}},
        "val_evaluator": {"type": "Accuracy"},
        "test_evaluator": {"type": "Accuracy"},
        "train_cfg": {"type": "EpochBasedTrainLoop", "max_epochs": 1},
        "optim_wrapper": {"optimizer": {"type": "SGD", "lr": 0.1, "momentum": 0.9}},
        "randomness": {"seed": 0},
        "work_dir": "work",
    }
    cfg.update(changes)
    return cfg


@pytest.fixture
def tiny_cfg() -> dict:
    return tiny_config()
