"""EMAHook from the command line: ``customrun test`` of a checkpoint evaluates the average, as
MMEngine's (the checkpoint's ``state_dict`` is the average), and bad arguments are one line, exit 2."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import torch

EMA = {"type": "EMAHook", "ema_type": "MomentumAnnealingEMA", "momentum": 0.3, "gamma": 2}


def test_customrun_test_evaluates_the_average(
    customrun_config: Callable[..., Any], customrun_cli: Callable[..., Any], customrun_run: Callable[..., Any]
) -> None:
    config = customrun_config(custom_hooks=[EMA])
    assert customrun_cli("train", config).exit_code == 0
    checkpoint = config.parent / "work" / "epoch_1.pt"
    tested = customrun_cli("test", config, "--checkpoint", checkpoint)
    assert tested.exit_code == 0, tested.stderr
    metrics = json.loads(tested.stdout.strip().splitlines()[-1])
    # the reference: a model without EMAHook loaded with the average, which the checkpoint keeps under
    # state_dict, and not with the training weights, kept under ema_state_dict
    saved = torch.load(checkpoint, weights_only=True)
    averaged = saved["state_dict"]
    training = {
        key.removeprefix("module."): v for key, v in saved["ema_state_dict"].items() if key != "steps"
    }
    assert any(not torch.equal(averaged[key], training[key]) for key in training)
    plain = customrun_run(mode="test", load_from=str(checkpoint), work_dir="plain")
    assert metrics == plain.metrics
    assert int(saved["ema_state_dict"]["steps"]) == 23  # every iteration of the epoch (1,438 / 64)


def test_a_bad_argument_is_one_line(
    customrun_config: Callable[..., Any], customrun_cli: Callable[..., Any]
) -> None:
    config = customrun_config(
        custom_hooks=[{"type": "EMAHook", "ema_type": "StochasticWeightAverage", "gamma": 5}]
    )
    result = customrun_cli("train", config)
    assert result.exit_code == 2
    assert result.stderr_lines == [
        f"error: {config}: custom_hooks[0].gamma: only MomentumAnnealingEMA takes gamma, "
        "and ema_type is StochasticWeightAverage"
    ]
