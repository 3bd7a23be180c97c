"""EMAHook driven by hand (no run) on a wrapped BatchNorm model: what is averaged, and odd checkpoints."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from customrun_core.errors import ConfigError
from torch import nn

from customrun_ema import EMAHook


def stepped_runner() -> SimpleNamespace:
    """The runner attributes EMAHook reads, with a wrapped Linear + BatchNorm model."""
    torch.manual_seed(0)
    return SimpleNamespace(
        model=nn.DataParallel(nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))), iter=0, epoch=0
    )


def step(runner: SimpleNamespace) -> dict[str, torch.Tensor]:
    """A stand-in for a training step: a forward pass in training mode (it moves the BatchNorm
    statistics) and a random change of the parameters; returns the state afterwards."""
    model = runner.model.module
    model.train()(torch.randn(8, 2))
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param))
    return {key: value.clone() for key, value in model.state_dict().items()}


def test_buffers_are_averaged_and_counters_copied() -> None:
    runner = stepped_runner()
    ema = EMAHook(momentum=0.5, update_buffers=True)
    ema.before_run(runner)
    assert set(ema.averaged) == set(runner.model.module.state_dict())  # unwrapped: no "module." prefix
    first = step(runner)
    ema.after_train_iter(runner, batch_idx=0)  # the first update copies
    runner.iter = 1
    second = step(runner)
    ema.after_train_iter(runner, batch_idx=1)
    for key in ("1.running_mean", "1.running_var", "0.weight"):
        torch.testing.assert_close(ema.averaged[key], 0.5 * first[key] + 0.5 * second[key])
    assert int(ema.averaged["1.num_batches_tracked"]) == 2  # an integer is copied, not averaged


def test_without_update_buffers_only_parameters_are_averaged_and_swapped() -> None:
    runner = stepped_runner()
    ema = EMAHook(momentum=0.5)
    ema.before_run(runner)
    assert set(ema.averaged) == {"0.weight", "0.bias", "1.weight", "1.bias"}
    step(runner)
    ema.after_train_iter(runner, batch_idx=0)
    runner.iter = 1
    trained = step(runner)
    ema.after_train_iter(runner, batch_idx=1)
    average = {key: value.clone() for key, value in ema.averaged.items()}
    ema.before_val_epoch(runner)
    during = runner.model.module.state_dict()
    assert torch.equal(during["0.weight"], ema.averaged["0.weight"])
    assert not torch.equal(during["0.weight"], trained["0.weight"])
    assert torch.equal(during["1.running_mean"], trained["1.running_mean"])  # the model's own statistics
    ema.after_val_epoch(runner, metrics={})
    assert all(torch.equal(value, average[key]) for key, value in ema.averaged.items())  # unchanged
    assert all(torch.equal(value, trained[key]) for key, value in runner.model.module.state_dict().items())


def resuming(runner: SimpleNamespace) -> SimpleNamespace:
    """The runner attributes read when a checkpoint is loaded, for a resumed training."""
    runner.cfg, runner.train_loop = SimpleNamespace(resume=True), object()
    runner.logger = logging.getLogger("customrun-ema-tests")
    return runner


def partial_checkpoint(runner: SimpleNamespace) -> dict[str, Any]:
    """A checkpoint whose ema_state_dict has only one of the four averaged parameters."""
    state = {key: value.clone() for key, value in runner.model.module.state_dict().items()}
    return {
        "state_dict": state,
        "ema_state_dict": {"steps": torch.tensor(3), "module.0.weight": torch.ones(3, 2)},
    }


def test_a_checkpoint_with_other_keys_is_named_in_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    runner = resuming(stepped_runner())
    ema = EMAHook()
    ema.before_run(runner)
    checkpoint = partial_checkpoint(runner)
    training_weight = checkpoint["ema_state_dict"]["module.0.weight"]
    with caplog.at_level(logging.WARNING):
        ema.after_load_checkpoint(runner, checkpoint)
    assert "missing ['0.bias', '1.bias', '1.weight'], unexpected []" in caplog.text
    assert ema.steps == 3
    assert checkpoint["state_dict"]["0.weight"] is training_weight  # given back for the model to load


def test_strict_load_refuses_a_checkpoint_with_other_keys() -> None:
    runner = resuming(stepped_runner())
    ema = EMAHook(strict_load=True)
    ema.before_run(runner)
    with pytest.raises(
        ConfigError, match=r"^EMAHook\.strict_load: checkpoint keys differ .*missing \['0\.bias'"
    ):
        ema.after_load_checkpoint(runner, partial_checkpoint(runner))


@pytest.mark.parametrize(
    ("options", "weights"),
    [
        ({"ema_type": "StochasticWeightAverage"}, (1 / 3, 1 / 3, 1 / 3)),
        # momentum max(0.01, 2 / (2 + steps)): 2/3 at steps 1, 1/2 at steps 2
        ({"ema_type": "MomentumAnnealingEMA", "momentum": 0.01, "gamma": 2}, (1 / 6, 1 / 3, 1 / 2)),
    ],
    ids=["swa", "annealing"],
)
def test_every_ema_type_averages_buffers(options: dict[str, Any], weights: tuple[float, ...]) -> None:
    runner = stepped_runner()
    ema = EMAHook(update_buffers=True, **options)
    ema.before_run(runner)
    states = []
    for i in range(3):
        runner.iter = i
        states.append(step(runner))
        ema.after_train_iter(runner, batch_idx=i)
    for key in ("1.running_mean", "1.running_var", "0.weight", "1.bias"):
        expected = sum(w * state[key] for w, state in zip(weights, states, strict=True))
        torch.testing.assert_close(ema.averaged[key], expected)
    assert int(ema.averaged["1.num_batches_tracked"]) == 3


def test_a_checkpoint_names_every_key_as_mmengine() -> None:
    """``ema_state_dict`` holds ``steps`` and every key of the model under ``module.`` (buffers too,
    as MMEngine's averaged copy writes them); without update_buffers the buffers are the model's own
    on both sides, the parameters are swapped."""
    runner = stepped_runner()
    ema = EMAHook(momentum=0.5)
    ema.before_run(runner)
    step(runner)
    ema.after_train_iter(runner, batch_idx=0)
    runner.iter = 1
    trained = step(runner)
    ema.after_train_iter(runner, batch_idx=1)
    checkpoint: dict[str, Any] = {"state_dict": dict(runner.model.module.state_dict())}
    ema.before_save_checkpoint(runner, checkpoint)
    saved = checkpoint["ema_state_dict"]
    assert set(saved) == {"steps"} | {f"module.{key}" for key in trained}
    for key, value in trained.items():
        assert torch.equal(saved[f"module.{key}"], value), key
        expected = ema.averaged.get(key, value)
        assert torch.equal(checkpoint["state_dict"][key], expected), key
