"""Exact resume: a run resumed from any of its checkpoints, mid-epoch and mid-accumulation window
included, ends bit-identical to the uninterrupted run on the CPU (deterministic mode). What must
carry over for that: weights, optimizer state, every scheduler, the loop's position inside the
epoch, the sampler's order, the pending gradients of an accumulation window and the RNG states
(dropout draws from torch's global generator)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from customrun_core.hooks import Hook
from customrun_core.randomness import rng_state, set_rng_state
from customrun_core.runner import Runner
from customrun_core.testing import assert_resume_is_exact, tiny_config

MODEL = {
    "type": "ClassifierModel",
    "backbone": {
        "type": "MLP",
        "in_features": 64,
        "num_classes": 10,
        "hidden_features": [32],
        "dropout": 0.3,
    },
}
EPOCH_SCHEDULE = [
    {"type": "LinearLR", "start_factor": 0.1, "by_epoch": False, "begin": 0, "end": 10},
    {"type": "MultiStepLR", "milestones": [1], "gamma": 0.5},
]
ITER_SCHEDULE = [
    {"type": "LinearLR", "start_factor": 0.1, "by_epoch": False, "begin": 0, "end": 10},
    {"type": "PolyLR", "power": 2.0, "eta_min": 0.001, "by_epoch": False, "begin": 10, "end": 40},
]


def config(loop: str, accumulate: int, **optim: Any) -> dict[str, Any]:
    if loop == "epoch":
        train_cfg: dict[str, Any] = {"type": "EpochBasedTrainLoop", "max_epochs": 2}
        schedule = EPOCH_SCHEDULE
    else:
        train_cfg = {"type": "IterBasedTrainLoop", "max_iters": 40, "val_interval": 20}
        schedule = ITER_SCHEDULE
    return tiny_config(
        model=MODEL,
        train_cfg=train_cfg,
        param_scheduler=schedule,
        optim_wrapper={
            "optimizer": {"type": "SGD", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4},
            "accumulative_counts": accumulate,
            **optim,
        },
        randomness={"seed": 3, "deterministic": True},
    )


@pytest.mark.parametrize("accumulate", [1, 3], ids=["plain", "accumulating"])
@pytest.mark.parametrize("loop", ["epoch", "iteration"])
def test_resume_from_any_checkpoint_ends_bit_identical(tmp_path: Path, loop: str, accumulate: int) -> None:
    # every 7 iterations: checkpoints fall inside epochs and inside accumulation windows of 3
    points = assert_resume_is_exact(config(loop, accumulate), tmp_path, every=7)
    assert len(points) >= 4


def test_resume_is_not_exact_without_the_rng_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above can fail: a resume that drops the saved RNG state (dropout then draws
    other masks) is caught."""
    monkeypatch.setattr("customrun_core.run_checkpoint.set_rng_state", lambda state: None)
    with pytest.raises(AssertionError, match="differs from the uninterrupted run"):
        assert_resume_is_exact(config("epoch", 1), tmp_path, every=7)


def test_resume_is_not_exact_without_the_position_in_the_epoch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nor does a resume that restarts the epoch's batches from the first one pass."""
    monkeypatch.setattr("customrun_core.loops.training.TrainLoop.skip_batches", lambda self, count: None)
    with pytest.raises(AssertionError, match="differs from the uninterrupted run"):
        assert_resume_is_exact(config("epoch", 1), tmp_path, every=7)


def test_rng_state_round_trips_through_a_weights_only_checkpoint(tmp_path: Path) -> None:
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    state = rng_state()
    torch.save({"rng": state}, tmp_path / "rng.pt")
    expected = (random.random(), np.random.rand(), torch.rand(3))
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True)["rng"])
    got = (random.random(), np.random.rand(), torch.rand(3))
    assert got[:2] == expected[:2]
    assert torch.equal(got[2], expected[2])


class AtStart(Hook):
    """What the run holds when training starts."""

    def before_train(self, runner: Any) -> None:
        self.iter, self.epoch = runner.iter, runner.epoch
        self.weights = {k: v.clone() for k, v in runner.model.state_dict().items()}
        self.optimizer_state = dict(runner.optim_wrapper.optimizer.state)


def test_load_from_loads_the_weights_only(tmp_path: Path) -> None:
    """As MMEngine: the checkpoint's weights, but iteration 0 and a fresh optimizer (no momentum
    buffers), where a resume from the same file would start at its iteration."""
    Runner.from_config(tiny_config(work_dir=str(tmp_path / "first"))).train()
    checkpoint = torch.load(tmp_path / "first" / "epoch_1.pt", weights_only=True)
    assert checkpoint["meta"]["iter"] > 0 and checkpoint["optimizer"]["state"]

    for how, expected_iter in (("load_from", 0), ("resume", checkpoint["meta"]["iter"])):
        cfg = tiny_config(work_dir=str(tmp_path / how), **{how: str(tmp_path / "first" / "epoch_1.pt")})
        cfg["train_cfg"]["max_epochs"] = 2
        runner = Runner.from_config(cfg)
        probe = AtStart()
        runner.hooks.add(probe)
        runner.train()
        assert probe.iter == expected_iter
        assert bool(probe.optimizer_state) == (how == "resume")
        assert all(torch.equal(probe.weights[k], v) for k, v in checkpoint["state_dict"].items())
