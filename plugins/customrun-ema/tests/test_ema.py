"""EMAHook in real (tiny, CPU) runs: the average, validation and test on it, checkpoints and resume."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
from customrun_core import Hook, unwrap_model
from customrun_core.errors import ConfigError
from customrun_core.testing import assert_resume_is_exact, tiny_config

from customrun_ema import EMAHook

M = 0.3  # a large momentum, so the average is far from the last weights


def params(runner: Any) -> dict[str, torch.Tensor]:
    """A copy of the model's parameters."""
    return {key: p.detach().clone() for key, p in unwrap_model(runner.model).named_parameters()}


def assert_same(
    actual: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor], exact: bool = False
) -> None:
    """Equal tensors under equal keys: to float32 rounding, or bit for bit when ``exact``."""
    assert set(actual) == set(expected)
    for key in expected:
        if exact:
            assert torch.equal(actual[key], expected[key]), key
        else:
            torch.testing.assert_close(actual[key], expected[key], msg=key)


def differ(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> bool:
    return any(not torch.allclose(a[key], b[key]) for key in b)


class Weights(Hook):
    """Copies of the parameters at some hook points; LOWEST, so after EMAHook has acted."""

    priority = "LOWEST"

    def __init__(self) -> None:
        self.seen: dict[str, list[dict[str, torch.Tensor]]] = defaultdict(list)

    def after_train_iter(
        self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        self.seen["after_train_iter"].append(params(runner))

    def before_val(self, runner: Any) -> None:
        self.seen["before_val"].append(params(runner))

    def after_val_iter(
        self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        self.seen["after_val_iter"].append(params(runner))

    def after_val(self, runner: Any) -> None:
        self.seen["after_val"].append(params(runner))

    def after_test_iter(
        self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        self.seen["after_test_iter"].append(params(runner))


def save_weights(runner: Any, averaged: Mapping[str, torch.Tensor], path: Path) -> str:
    """A checkpoint file holding the model with ``averaged`` as its parameters."""
    state = {key: value.clone() for key, value in unwrap_model(runner.model).state_dict().items()}
    torch.save({"state_dict": {**state, **averaged}}, path)
    return str(path)


# -- the average ----------------------------------------------------------------------------------

# p[i]: the weights after training iteration i (2 epochs of 2 iterations)
HAND_COMPUTED = [
    pytest.param({}, lambda p: (1 - M) ** 3 * p[0] + M * (1 - M) ** 2 * p[1] + M * (1 - M) * p[2] + M * p[3],
                 4, id="every-iteration"),
    pytest.param({"interval": 2}, lambda p: (1 - M) * p[0] + M * p[2], 4, id="interval-2"),
    pytest.param({"begin_iter": 3}, lambda p: (1 - M) * p[2] + M * p[3], 2, id="begin-iter-3"),
    pytest.param({"begin_epoch": 2}, lambda p: (1 - M) * p[2] + M * p[3], 2, id="begin-epoch-2"),
]  # fmt: skip


@pytest.mark.parametrize(("options", "expected", "steps"), HAND_COMPUTED)
def test_the_average_is_the_hand_computed_one(
    train: Callable[..., Any], options: dict[str, Any], expected: Callable[[list[Any]], Any], steps: int
) -> None:
    """The first update copies the weights, and so does every iteration before the start."""
    ema, weights = EMAHook(momentum=M, **options), Weights()
    train(ema, weights)
    history = weights.seen["after_train_iter"]
    assert len(history) == 4
    assert_same(ema.averaged, {key: expected([w[key] for w in history]) for key in history[0]})
    assert ema.steps == steps


# -- validation and test --------------------------------------------------------------------------


def test_validation_runs_on_the_average_and_the_training_weights_come_back(
    train: Callable[..., Any], evaluate: Callable[..., Any], tmp_path: Path
) -> None:
    ema, weights = EMAHook(momentum=M), Weights()
    result = train(ema, weights)
    seen = weights.seen
    assert len(seen["before_val"]) == len(seen["after_val_iter"]) == len(seen["after_val"]) == 2
    for before, during, after in zip(
        seen["before_val"], seen["after_val_iter"], seen["after_val"], strict=True
    ):
        assert differ(during, before)
        assert_same(after, before, exact=True)  # swapped back
    assert_same(seen["after_val_iter"][-1], ema.averaged, exact=True)
    assert_same(params(result.runner), seen["before_val"][-1], exact=True)
    # the metrics are those of a model loaded with the average
    plain = evaluate("val", load_from=save_weights(result.runner, ema.averaged, tmp_path / "average.pt"))
    assert plain.metrics == result.metrics


def test_test_runs_on_the_average(
    train: Callable[..., Any], evaluate: Callable[..., Any], tmp_path: Path
) -> None:
    """``runner.test()`` after ``runner.train()`` keeps the average of that training."""
    ema, weights = EMAHook(momentum=M), Weights()
    result = train(ema, weights)
    trained = params(result.runner)
    metrics = result.runner.test()
    assert_same(weights.seen["after_test_iter"][0], ema.averaged, exact=True)
    assert_same(params(result.runner), trained, exact=True)
    plain = evaluate("test", load_from=save_weights(result.runner, ema.averaged, tmp_path / "average.pt"))
    assert plain.metrics == metrics


# -- checkpoints ------------------------------------------------------------------------------------


def test_a_checkpoint_holds_the_average_and_the_training_weights(train: Callable[..., Any]) -> None:
    """MMEngine's layout: the average under state_dict (ready to deploy), the training weights under
    ema_state_dict with the update count."""
    ema = EMAHook(momentum=M)
    result = train(ema)
    checkpoint = torch.load(result.work_dir / "epoch_2.pt", weights_only=True)
    saved = checkpoint["ema_state_dict"]
    assert set(saved) == {"steps"} | {f"module.{key}" for key in ema.averaged}
    assert int(saved["steps"]) == 4
    assert_same({key: checkpoint["state_dict"][key] for key in ema.averaged}, ema.averaged, exact=True)
    assert_same({key: saved[f"module.{key}"] for key in ema.averaged}, params(result.runner), exact=True)


class SavesDuringValidation(Hook):
    def after_val_iter(
        self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        runner.save_checkpoint("during_val.pt", epoch=runner.epoch, iteration=runner.iter)


def test_a_checkpoint_saved_during_validation_is_the_same(train: Callable[..., Any]) -> None:
    """While the model holds the average, a checkpoint still gets the training weights right."""
    result = train(EMAHook(momentum=M), SavesDuringValidation(), epochs=1)
    after_epoch = torch.load(result.work_dir / "epoch_1.pt", weights_only=True)
    during_val = torch.load(result.work_dir / "during_val.pt", weights_only=True)
    for key in ("state_dict", "ema_state_dict"):
        assert_same(during_val[key], after_epoch[key], exact=True)


def test_a_resumed_run_continues_the_same_average(train: Callable[..., Any]) -> None:
    """Two epochs in one go, or one epoch then a resumed second one: the same average and weights.
    The resumed run names the hook in its config, through the entry point; the data are
    shuffled, and the resumed epoch 2 draws epoch 2's order.
    """
    whole_ema = EMAHook(momentum=M)
    whole = train(whole_ema, work_dir="whole")
    train(EMAHook(momentum=M), epochs=1, work_dir="split")
    resumed = train(work_dir="split", resume=True, custom_hooks=[{"type": "EMAHook", "momentum": M}])
    (ema,) = [hook for hook in resumed.runner.hooks.plugins if isinstance(hook, EMAHook)]
    assert [call.iter for call in resumed.calls_to("before_train_iter")] == [2, 3]
    assert ema.steps == 4
    assert_same(ema.averaged, whole_ema.averaged, exact=True)
    assert_same(params(resumed.runner), params(whole.runner), exact=True)


RESUMED = [
    pytest.param({"momentum": M}, False, id="ema"),
    # the momentum depends on steps; updates every 2 iterations, so resumed between two of them
    pytest.param({"ema_type": "MomentumAnnealingEMA", "momentum": M, "gamma": 3, "interval": 2}, False,
                 id="annealing-interval-2"),
    # BatchNorm statistics averaged too; the average starts at iteration 5, inside the first epoch
    pytest.param({"ema_type": "StochasticWeightAverage", "update_buffers": True, "begin_iter": 5}, True,
                 id="swa-buffers-begin-iter"),
]  # fmt: skip


@pytest.mark.parametrize(("options", "batch_norm"), RESUMED)
def test_resumed_from_inside_an_epoch_the_average_is_bit_identical(
    tmp_path: Path, options: dict[str, Any], batch_norm: bool
) -> None:
    """Checkpoints every 7 iterations, inside epochs: each resumed run ends with the same
    weights as the uninterrupted one (the average is swapped in for checkpoints and comes back)."""
    cfg = tiny_config(
        train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 2},
        custom_hooks=[{"type": "EMAHook", **options}],
        randomness={"seed": 4, "deterministic": True},
    )
    cfg["model"]["backbone"]["batch_norm"] = batch_norm
    cfg["train_dataloader"] = cfg["train_dataloader"] | {"batch_size": 128}
    assert len(assert_resume_is_exact(cfg, tmp_path, every=7)) >= 2


def test_resuming_without_an_average_says_so(train: Callable[..., Any]) -> None:
    train(epochs=1)  # no EMAHook
    ema = EMAHook(momentum=M)
    result = train(ema, resume=True)
    log = (result.work_dir / "run.log").read_text(encoding="utf-8")
    assert (
        "EMAHook: the checkpoint has no 'ema_state_dict' (it was saved without EMAHook): "
        "the average starts from its weights"
    ) in log
    assert ema.steps == 2


def test_loading_weights_starts_the_average_from_them(
    train: Callable[..., Any], evaluate: Callable[..., Any]
) -> None:
    """``load_from`` (not resuming) an EMA checkpoint: its state_dict is the average already."""
    ema = EMAHook(momentum=M)
    trained = train(ema)
    tested = evaluate("test", EMAHook(), load_from=str(trained.work_dir / "epoch_2.pt"))
    assert_same(params(tested.runner), ema.averaged, exact=True)
    assert tested.metrics == trained.runner.test()


# -- configuration ----------------------------------------------------------------------------------


def test_a_config_names_it_with_a_priority(customrun_run: Callable[..., Any]) -> None:
    cfg_hooks = [{"type": "EMAHook"}, {"type": "EMAHook", "momentum": 0.001, "priority": 49}]
    runner = customrun_run(mode="val", custom_hooks=cfg_hooks).runner
    names = runner.hooks.order()["before_val_epoch"]
    assert [priority for name, priority in names if name.startswith("EMAHook")] == ["49", "NORMAL"]


@pytest.mark.parametrize(
    ("options", "key", "message"),
    [
        ({"momentum": 0}, "momentum", "expected a number between 0 and 1 (exclusive), got 0"),
        ({"momentum": 1.5}, "momentum", "expected a number between 0 and 1 (exclusive), got 1.5"),
        ({"interval": 0}, "interval", "expected an integer >= 1, got 0"),
        ({"begin_iter": -1}, "begin_iter", "expected an integer >= 0, got -1"),
        ({"begin_iter": 2, "begin_epoch": 1}, "begin_epoch", "set begin_iter or begin_epoch, not both"),
        ({"ema_type": "ExpMomentumEMA"}, "ema_type",
         "expected one of ExponentialMovingAverage, MomentumAnnealingEMA, StochasticWeightAverage, "
         "got 'ExpMomentumEMA' (did you mean 'MomentumAnnealingEMA'?)"),
        ({"ema_type": "StochasticWeightAverage", "momentum": 0.1}, "momentum",
         "StochasticWeightAverage takes no momentum, got 0.1"),
        ({"gamma": 10}, "gamma", "only MomentumAnnealingEMA takes gamma, and ema_type is ExponentialMovingAverage"),
        ({"ema_type": "MomentumAnnealingEMA", "gamma": 0}, "gamma", "expected a number > 0, got 0"),
    ],
)  # fmt: skip
def test_bad_arguments_name_their_key(
    customrun_run: Callable[..., Any], options: dict[str, Any], key: str, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        customrun_run(custom_hooks=[{"type": "EMAHook", **options}])
    assert (info.value.key, info.value.message) == (f"custom_hooks[0].{key}", message)


def test_a_start_after_the_last_iteration_is_refused(train: Callable[..., Any]) -> None:
    with pytest.raises(ConfigError, match=r"EMAHook\.begin_iter: expected at most max_iters \(4\), got 5"):
        train(EMAHook(begin_iter=5))
