"""Momentum schedulers on SGD's ``momentum`` and Adam's ``betas[0]``, and generic ``param_name``
schedules (``weight_decay``), against closed forms and torch's LR schedulers run on the same numbers."""

from __future__ import annotations

import io
from typing import Any

import pytest
import torch
from torch.optim import lr_scheduler

from customrun_core.errors import ConfigError
from customrun_core.optim import OptimWrapper
from customrun_core.schedulers import (
    ConstantMomentum,
    ExponentialMomentum,
    LinearMomentum,
    LinearParamScheduler,
    MultiStepMomentum,
    ParamScheduler,
    PolyMomentum,
    StepLR,
    StepMomentum,
)
from customrun_core.schedulers.build import build_param_schedulers


def param() -> torch.nn.Parameter:
    return torch.nn.Parameter(torch.zeros(1))


def values(optimizer: Any, schedulers: list[Any], steps: int, read: Any) -> list[Any]:
    """``read(group 0)`` in effect at each of ``steps`` steps."""
    seen = []
    for _ in range(steps):
        seen.append(read(optimizer.param_groups[0]))
        optimizer.step()
        for scheduler in schedulers:
            scheduler.step()
    return seen


def momentum(group: dict) -> float:
    return group["momentum"]


def beta1(group: dict) -> float:
    return group["betas"][0]


# (twin, its arguments, torch's LR scheduler and arguments giving the same sequence on lr = 0.9)
TWINS = [
    (ConstantMomentum, {"factor": 0.5, "end": 3}, lr_scheduler.ConstantLR, {"factor": 0.5, "total_iters": 2}),
    (
        LinearMomentum,
        {"start_factor": 0.25, "end": 5},
        lr_scheduler.LinearLR,
        {"start_factor": 0.25, "total_iters": 4},
    ),
    (StepMomentum, {"step_size": 2, "gamma": 0.5}, lr_scheduler.StepLR, {"step_size": 2, "gamma": 0.5}),
    (
        MultiStepMomentum,
        {"milestones": [2, 4], "gamma": 0.5},
        lr_scheduler.MultiStepLR,
        {"milestones": [2, 4], "gamma": 0.5},
    ),
    (ExponentialMomentum, {"gamma": 0.9}, lr_scheduler.ExponentialLR, {"gamma": 0.9}),
    (PolyMomentum, {"power": 2.0, "end": 5}, lr_scheduler.PolynomialLR, {"power": 2.0, "total_iters": 4}),
]


def torch_expected(torch_cls: type, torch_kwargs: dict, steps: int) -> list[float]:
    optimizer = torch.optim.SGD([param()], lr=0.9)
    return values(optimizer, [torch_cls(optimizer, **torch_kwargs)], steps, lambda g: g["lr"])


@pytest.mark.parametrize(("cls", "kwargs", "torch_cls", "torch_kwargs"), TWINS)
def test_twin_on_sgd_momentum_matches_torchs_lr_scheduler(
    cls: type[ParamScheduler], kwargs: dict, torch_cls: type, torch_kwargs: dict
) -> None:
    optimizer = torch.optim.SGD([param()], lr=0.1, momentum=0.9)
    seen = values(optimizer, [cls(optimizer, **kwargs)], 8, momentum)
    assert seen == pytest.approx(torch_expected(torch_cls, torch_kwargs, 8), rel=1e-12, abs=1e-15)
    assert optimizer.param_groups[0]["lr"] == 0.1  # the lr is not touched


@pytest.mark.parametrize(("cls", "kwargs", "torch_cls", "torch_kwargs"), TWINS)
@pytest.mark.parametrize("optimizer_cls", [torch.optim.Adam, torch.optim.AdamW])
def test_twin_on_adam_drives_beta1_and_leaves_beta2(
    cls: type[ParamScheduler], kwargs: dict, torch_cls: type, torch_kwargs: dict, optimizer_cls: type
) -> None:
    optimizer = optimizer_cls([param()], lr=0.1, betas=(0.9, 0.95))
    scheduler = cls(optimizer, **kwargs)
    seen = values(optimizer, [scheduler], 8, lambda g: g["betas"])
    assert [b[0] for b in seen] == pytest.approx(torch_expected(torch_cls, torch_kwargs, 8), rel=1e-12)
    assert [b[1] for b in seen] == [0.95] * 8
    group = optimizer.param_groups[0]
    assert group["momentum"] == group["betas"][0]  # MMEngine's synthetic key, kept in step
    assert isinstance(group["betas"], tuple)


def test_closed_form_of_a_linear_momentum_warmup_on_sgd() -> None:
    """By hand: 0.9 * (0.5 + 0.5 * t / 3) for t = 0..3, then 0.9."""
    optimizer = torch.optim.SGD([param()], lr=0.1, momentum=0.9)
    scheduler = LinearMomentum(optimizer, start_factor=0.5, end=4)
    expected = [0.45, 0.6, 0.75, 0.9, 0.9]
    assert values(optimizer, [scheduler], 5, momentum) == pytest.approx(expected, rel=1e-12)


def test_two_momentum_schedulers_on_adam_compose_and_keep_betas_in_step() -> None:
    """The second scheduler sees the synthetic key the first one made and still writes betas[0]."""
    optimizer = torch.optim.Adam([param()], lr=0.1, betas=(0.8, 0.999))
    schedulers = [
        ConstantMomentum(optimizer, factor=0.5, end=2),
        ExponentialMomentum(optimizer, gamma=0.5, begin=3, end=5),
    ]
    # ConstantMomentum: 0.4 at step 0, back to 0.8 at 1; ExponentialMomentum halves at step 4
    expected = [0.4, 0.8, 0.8, 0.8, 0.4, 0.4]
    assert values(optimizer, schedulers, 6, beta1) == pytest.approx(expected, rel=1e-12)
    assert values(optimizer, [], 1, momentum) == pytest.approx([0.4])


def test_adam_momentum_schedule_changes_the_update_adam_makes() -> None:
    """torch's Adam reads the tuple the scheduler wrote: the step equals Adam built with those betas."""
    torch.manual_seed(0)
    start = torch.randn(3)
    grads = [torch.randn(3) for _ in range(3)]

    def train(make_scheduler: Any, betas: tuple[float, float]) -> torch.Tensor:
        weight = torch.nn.Parameter(start.clone())
        optimizer = torch.optim.Adam([weight], lr=0.1, betas=betas)
        scheduler = make_scheduler(optimizer)
        for grad in grads:
            weight.grad = grad.clone()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
        return weight.detach()

    scheduled = train(lambda opt: ConstantMomentum(opt, factor=0.5), (0.9, 0.999))
    fixed = train(lambda opt: None, (0.45, 0.999))
    assert torch.allclose(scheduled, fixed)


@pytest.mark.parametrize("optimizer_cls", [torch.optim.Adagrad, torch.optim.Adadelta])
def test_optimizer_without_momentum_or_betas_is_a_config_error(optimizer_cls: type) -> None:
    with pytest.raises(ConfigError, match=f"{optimizer_cls.__name__} has neither"):
        LinearMomentum(optimizer_cls([param()], lr=0.1))


def test_built_from_config_on_a_wrapper_with_several_groups() -> None:
    """The wrapper's base pseudo group (several groups) gets betas too; every real group is scheduled."""
    optimizer = torch.optim.AdamW(
        [{"params": [param()]}, {"params": [param()], "betas": (0.5, 0.9)}], lr=0.1, betas=(0.9, 0.999)
    )
    wrapper = OptimWrapper(optimizer)
    (scheduler,) = build_param_schedulers(
        [{"type": "MultiStepMomentum", "milestones": [1], "gamma": 0.5, "by_epoch": False}], wrapper, 5, 2, 10
    )
    scheduler.step()
    assert [g["betas"] for g in optimizer.param_groups] == [(0.45, 0.999), (0.25, 0.9)]
    assert len(wrapper.param_groups) == 3  # the base group: the optimizer's defaults
    assert wrapper.param_groups[2]["betas"] == (0.45, 0.999)


def test_adam_momentum_resumes_from_a_weights_only_checkpoint() -> None:
    optimizer = torch.optim.Adam([param()], lr=0.1)
    scheduler = LinearMomentum(optimizer, start_factor=0.5, end=6)
    values(optimizer, [scheduler], 2, beta1)
    buffer = io.BytesIO()
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, buffer)
    buffer.seek(0)
    checkpoint = torch.load(buffer, weights_only=True)
    resumed_optimizer = torch.optim.Adam([param()], lr=0.1)
    resumed = LinearMomentum(resumed_optimizer, start_factor=0.5, end=6)
    resumed_optimizer.load_state_dict(checkpoint["optimizer"])
    resumed.load_state_dict(checkpoint["scheduler"])
    assert values(resumed_optimizer, [resumed], 5, beta1) == values(optimizer, [scheduler], 5, beta1)


# -- generic schedulers: any group key -----------------------------------------------------------


def test_weight_decay_through_a_generic_scheduler_from_config() -> None:
    """``param_name = "weight_decay"``: by hand 1e-2 * (0.5 + 0.5 * t / 2), then 1e-2; lr untouched."""
    optimizer = torch.optim.SGD([param()], lr=0.1, momentum=0.9, weight_decay=1e-2)
    table = {"type": "LinearParamScheduler", "param_name": "weight_decay", "start_factor": 0.5, "end": 3}
    (scheduler,) = build_param_schedulers([table], OptimWrapper(optimizer), 5, 4, 20)
    assert isinstance(scheduler, LinearParamScheduler)
    seen = values(optimizer, [scheduler], 5, lambda g: (g["weight_decay"], g["lr"]))
    assert [wd for wd, _ in seen] == pytest.approx([5e-3, 7.5e-3, 1e-2, 1e-2, 1e-2], rel=1e-12)
    assert {lr for _, lr in seen} == {0.1}
    assert optimizer.param_groups[0]["initial_weight_decay"] == 1e-2


def test_weight_decay_and_lr_schedules_run_side_by_side() -> None:
    optimizer = torch.optim.AdamW([param()], lr=0.1, weight_decay=0.05)
    wrapper = OptimWrapper(optimizer)
    cfg = [
        {"type": "StepParamScheduler", "param_name": "weight_decay", "step_size": 2, "gamma": 0.1},
        {"type": "StepLR", "step_size": 1, "gamma": 0.5},
    ]
    schedulers = build_param_schedulers(cfg, wrapper, 5, 10, 50)
    assert isinstance(schedulers[1], StepLR)
    seen = values(optimizer, schedulers, 4, lambda g: (g["weight_decay"], g["lr"]))
    assert seen == [
        pytest.approx((0.05, 0.1)),
        pytest.approx((0.05, 0.05)),
        pytest.approx((0.005, 0.025)),
        pytest.approx((0.005, 0.0125)),
    ]


def test_generic_scheduler_of_a_key_the_groups_lack_is_a_config_error() -> None:
    wrapper = OptimWrapper(torch.optim.SGD([param()], lr=0.1))
    with pytest.raises(ConfigError, match="no 'wieght_decay'") as info:
        build_param_schedulers(
            [{"type": "ExponentialParamScheduler", "param_name": "wieght_decay", "gamma": 0.5}],
            wrapper,
            5,
            2,
            10,
        )
    assert info.value.key == "param_scheduler[0].param_name"
