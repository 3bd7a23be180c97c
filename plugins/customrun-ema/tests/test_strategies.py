"""The three ema_types in real (tiny, CPU) runs: each average against its closed form, computed by
hand from MMEngine's formulas, and against torch.optim.swa_utils.AveragedModel where it computes the
same thing."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import torch
from customrun_core import Hook, unwrap_model
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from customrun_ema import EMAHook


class History(Hook):
    """The parameters after every training iteration; LOWEST, so after EMAHook has acted."""

    priority = "LOWEST"

    def __init__(self) -> None:
        self.seen: list[dict[str, torch.Tensor]] = []

    def after_train_iter(
        self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        model = unwrap_model(runner.model)
        self.seen.append({key: p.detach().clone() for key, p in model.named_parameters()})


def averaged_run(train: Callable[..., Any], **options: Any) -> tuple[EMAHook, list[dict[str, Any]], Any]:
    """2 epochs of 2 iterations with ``EMAHook(**options)``: the hook, the weights after each
    iteration, and the run."""
    ema, history = EMAHook(**options), History()
    result = train(ema, history)
    assert len(history.seen) == 4
    return ema, history.seen, result


# p[i]: the weights after training iteration i. Every update counts towards `steps`; the first copies.
CLOSED_FORMS = [
    # momentum max(0.01, 2 / (2 + steps)): 2/3, 1/2, 2/5 at steps 1, 2, 3
    pytest.param({"ema_type": "MomentumAnnealingEMA", "momentum": 0.01, "gamma": 2},
                 lambda p: p[0] / 10 + p[1] / 5 + 3 * p[2] / 10 + 2 * p[3] / 5, 4, id="annealing"),
    # max(0.45, 1 / (1 + steps)): 1/2 at steps 1, then the floor 0.45
    pytest.param({"ema_type": "MomentumAnnealingEMA", "momentum": 0.45, "gamma": 1},
                 lambda p: 0.15125 * p[0] + 0.15125 * p[1] + 0.2475 * p[2] + 0.45 * p[3], 4,
                 id="annealing-floor"),
    # MMEngine's default gamma 100: 100/101, 100/102, 100/103
    pytest.param({"ema_type": "MomentumAnnealingEMA"},
                 lambda p: (p[0] / 101 * 2 / 102 + 100 / 101 * 2 / 102 * p[1] + 100 / 102 * p[2]) * 3 / 103
                 + 100 / 103 * p[3], 4, id="annealing-defaults"),
    # steps 0 copies, steps 2 averages with max(0.01, 2 / 4)
    pytest.param({"ema_type": "MomentumAnnealingEMA", "momentum": 0.01, "gamma": 2, "interval": 2},
                 lambda p: (p[0] + p[2]) / 2, 4, id="annealing-interval-2"),
    pytest.param({"ema_type": "StochasticWeightAverage"},
                 lambda p: (p[0] + p[1] + p[2] + p[3]) / 4, 4, id="swa"),
    pytest.param({"ema_type": "StochasticWeightAverage", "interval": 2},
                 lambda p: (p[0] + p[2]) / 2, 4, id="swa-interval-2"),
    pytest.param({"ema_type": "StochasticWeightAverage", "interval": 3},
                 lambda p: (p[0] + p[3]) / 2, 4, id="swa-interval-3"),
    pytest.param({"ema_type": "StochasticWeightAverage", "begin_iter": 2},
                 lambda p: (p[1] + p[2] + p[3]) / 3, 3, id="swa-begin-iter-2"),
    pytest.param({"ema_type": "StochasticWeightAverage", "begin_epoch": 2},
                 lambda p: (p[2] + p[3]) / 2, 2, id="swa-begin-epoch-2"),
    pytest.param({"ema_type": "ExponentialMovingAverage", "momentum": 0.25, "interval": 3},
                 lambda p: 0.75 * p[0] + 0.25 * p[3], 4, id="ema-interval-3"),
]  # fmt: skip


@pytest.mark.parametrize(("options", "expected", "steps"), CLOSED_FORMS)
def test_the_average_is_the_closed_form(
    train: Callable[..., Any], options: dict[str, Any], expected: Callable[[list[Any]], Any], steps: int
) -> None:
    ema, history, _ = averaged_run(train, **options)
    torch.testing.assert_close(ema.averaged, {key: expected([w[key] for w in history]) for key in history[0]})
    assert ema.steps == steps


def torch_average(runner: Any, history: list[dict[str, torch.Tensor]], **kwargs: Any) -> dict[str, Any]:
    """torch's AveragedModel fed the same weights, one update per iteration."""
    source = copy.deepcopy(unwrap_model(runner.model))
    averaged = AveragedModel(source, **kwargs)
    for weights in history:
        source.load_state_dict(weights, strict=False)
        averaged.update_parameters(source)
    return dict(averaged.module.named_parameters())


def test_swa_is_torchs_averaged_model(train: Callable[..., Any]) -> None:
    ema, history, result = averaged_run(train, ema_type="StochasticWeightAverage")
    torch.testing.assert_close(ema.averaged, torch_average(result.runner, history))


def test_the_momentum_is_mmengines_not_torchs_decay(train: Callable[..., Any]) -> None:
    """MMEngine's momentum 0.3 is torch's decay 0.7: the weight of the average, not of the weights."""
    ema, history, result = averaged_run(train, momentum=0.3)
    reference = torch_average(result.runner, history, multi_avg_fn=get_ema_multi_avg_fn(0.7))
    torch.testing.assert_close(ema.averaged, reference)


@pytest.mark.parametrize(
    "options",
    [{"ema_type": "StochasticWeightAverage"}, {"ema_type": "MomentumAnnealingEMA", "momentum": 0.3}],
    ids=["swa", "annealing"],
)
def test_validation_and_test_run_on_the_average(
    train: Callable[..., Any], evaluate: Callable[..., Any], options: dict[str, Any]
) -> None:
    """The metrics are those of a plain model loaded with the checkpoint, whose state_dict is the
    average; the training weights are back after validation."""
    ema, history, result = averaged_run(train, **options)
    checkpoint = torch.load(result.work_dir / "epoch_2.pt", weights_only=True)
    torch.testing.assert_close(
        {key: checkpoint["state_dict"][key] for key in ema.averaged}, ema.averaged, rtol=0, atol=0
    )
    plain = evaluate("val", load_from=str(result.work_dir / "epoch_2.pt"))
    assert plain.metrics == result.metrics
    torch.testing.assert_close(
        dict(unwrap_model(result.runner.model).named_parameters()), history[-1], rtol=0, atol=0
    )
    assert evaluate("test", load_from=str(result.work_dir / "epoch_2.pt")).metrics == result.runner.test()


def test_an_iteration_based_loop_counts_iterations(train: Callable[..., Any]) -> None:
    """``begin_iter`` in an IterBasedTrainLoop (whose epochs are not checked against ``begin_epoch``)."""
    ema, history = EMAHook(ema_type="StochasticWeightAverage", begin_iter=3), History()
    train(ema, history, train_cfg={"type": "IterBasedTrainLoop", "max_iters": 4})
    p = history.seen
    torch.testing.assert_close(ema.averaged, {key: (p[2][key] + p[3][key]) / 2 for key in p[0]})
    assert ema.steps == 2
