"""AmpOptimWrapper through a resume and through overflowing steps, on the CPU in bfloat16."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from customrun_core import Runner
from customrun_core.hooks import Hook
from customrun_core.testing import assert_resume_is_exact, tiny_config

MODEL = tiny_config()["model"]
MODEL["backbone"]["dropout"] = 0.3  # draws from torch's generator: its state must carry over


def amp(loss_scale: Any, accumulate: int = 1) -> dict[str, Any]:
    return {
        "type": "AmpOptimWrapper",
        "dtype": "bfloat16",
        "loss_scale": loss_scale,
        "accumulative_counts": accumulate,
        "optimizer": {"type": "AdamW", "lr": 0.01, "weight_decay": 0.01},
    }


@pytest.mark.parametrize(
    ("loss_scale", "accumulate"),
    [("dynamic", 1), ({"init_scale": 2.0**16, "growth_interval": 2}, 3)],
    ids=["dynamic", "growing-scale-accumulating"],
)
def test_resume_in_bfloat16_ends_bit_identical(tmp_path: Path, loss_scale: Any, accumulate: int) -> None:
    """Resumed from a checkpoint every 7 iterations (inside epochs and accumulation windows),
    the run ends with the uninterrupted run's weights and AdamW state; in the second case also
    with its loss scale and growth tracker, which change every two steps and so differ at every
    checkpoint. ("dynamic" scales float16 only: bfloat16 runs unscaled.)"""
    cfg = tiny_config(
        model=MODEL,
        train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 2},
        optim_wrapper=amp(loss_scale, accumulate),
        param_scheduler=[{"type": "LinearLR", "start_factor": 0.2, "by_epoch": False, "begin": 0, "end": 15}],
        randomness={"seed": 11, "deterministic": True},
    )
    points = assert_resume_is_exact(cfg, tmp_path, every=7)
    assert len(points) >= 4


class Overflow(Hook):
    """Iteration 4 sees its inputs times 1e12: a large but finite loss (~1e11) whose scaled value overflows."""

    def before_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None) -> None:
        if runner.iter + 1 == 4:
            data_batch[0].mul_(1e12)


def test_skipped_steps_are_not_nonfinite_losses(tmp_path: Path) -> None:
    """The scaler skips the step whose scaled gradients overflow and backs off; the loss itself
    is finite, so the default on_nonfinite = "error" does not stop the run."""
    cfg = tiny_config(optim_wrapper=amp({"init_scale": 2.0**100}), work_dir=str(tmp_path / "work"))
    runner = Runner.from_config(cfg, device="cpu")
    runner.hooks.add(Overflow())
    runner.train()
    wrapper = runner.optim_wrapper
    assert wrapper.skipped_steps == 1
    assert wrapper.loss_scale == 2.0**99
    assert wrapper.nonfinite_steps == 0
    assert "nonfinite_steps" not in wrapper.log_values()


class Poison(Hook):
    """Iteration 4 sees NaN inputs: its loss is NaN whatever the scale."""

    def before_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None) -> None:
        if runner.iter + 1 == 4:
            data_batch[0].fill_(float("nan"))


@pytest.mark.parametrize("loss_scale", ["dynamic", {"init_scale": 1024.0}], ids=["unscaled", "scaled"])
def test_a_skipped_nonfinite_loss_is_logged_under_amp(tmp_path: Path, loss_scale: Any) -> None:
    """With on_nonfinite = "skip" the NaN loss of iteration 4 is left out and counted; the count
    reaches scalars.jsonl from that iteration on, beside AMP's own values, as without AMP."""
    cfg = tiny_config(
        optim_wrapper=amp(loss_scale),
        on_nonfinite="skip",
        default_hooks={"logger": {"type": "LoggerHook", "interval": 1}, "checkpoint": False},
        work_dir=str(tmp_path / "work"),
    )
    runner = Runner.from_config(cfg, device="cpu")
    runner.hooks.add(Poison())
    runner.train()
    lines = (tmp_path / "work" / "scalars.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    train = [r for r in records if r.get("mode") == "train"]
    assert [r.get("nonfinite_steps") for r in train[:5]] == [None, None, None, 1, 1]
    assert runner.optim_wrapper.nonfinite_steps == 1
    if isinstance(loss_scale, dict):
        assert "loss_scale" in train[3] and "skipped_steps" in train[3]
