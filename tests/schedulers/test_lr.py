"""LR schedulers against MMEngine's [ran] numbers, torch's own schedulers and closed forms."""

from __future__ import annotations

import io
from typing import Any

import pytest
import torch
from torch.optim import lr_scheduler

from customrun_core.errors import ConfigError
from customrun_core.schedulers import (
    INF,
    ConstantLR,
    ExponentialLR,
    LinearLR,
    MultiStepLR,
    ParamScheduler,
    PolyLR,
    StepLR,
)


def make_optimizer(lr: float = 0.1) -> torch.optim.SGD:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def lrs(optimizer: torch.optim.Optimizer, schedulers: list[Any], steps: int) -> list[float]:
    """The lr in effect at each of ``steps`` steps; every scheduler steps after the optimizer."""
    values = []
    for _ in range(steps):
        values.append(optimizer.param_groups[0]["lr"])
        optimizer.step()  # no gradients: a no-op that keeps torch's order check quiet
        for scheduler in schedulers:
            scheduler.step()
    return values


def run(cls: type[ParamScheduler], steps: int, **kwargs: Any) -> list[float]:
    optimizer = make_optimizer()
    return lrs(optimizer, [cls(optimizer, **kwargs)], steps)


@pytest.mark.parametrize(
    ("cls", "kwargs", "expected"),
    [
        (StepLR, {"step_size": 2, "gamma": 0.5}, [0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125]),
        (MultiStepLR, {"milestones": [2, 4]}, [0.1, 0.1, 0.01, 0.01, 0.001]),
        (MultiStepLR, {"milestones": [2, 2]}, [0.1, 0.1, 0.001]),
        (ConstantLR, {"factor": 0.5, "end": 3}, [0.05, 0.05, 0.1, 0.1]),
        (ExponentialLR, {"gamma": 0.9}, [0.1, 0.09, 0.081, 0.0729]),
        (LinearLR, {"start_factor": 0.25, "end": 5}, [0.025, 0.04375, 0.0625, 0.08125, 0.1, 0.1]),
        (PolyLR, {"power": 1.0, "end": 5}, [0.1, 0.075, 0.05, 0.025, 0.0]),
        (PolyLR, {"power": 2.0, "eta_min": 0.01, "end": 4}, [0.1, 0.05, 0.02, 0.01]),
    ],
)
def test_matches_mmengine_ran_numbers(cls: type[ParamScheduler], kwargs: dict, expected: list[float]) -> None:
    """The values MMEngine 0.10.7 produced for the same scheduler (reference section 7)."""
    assert run(cls, len(expected), **kwargs) == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(
    ("cls", "kwargs", "torch_cls", "torch_kwargs"),
    [
        (StepLR, {"step_size": 3, "gamma": 0.5}, lr_scheduler.StepLR, {"step_size": 3, "gamma": 0.5}),
        (
            MultiStepLR,
            {"milestones": [2, 5, 5], "gamma": 0.5},
            lr_scheduler.MultiStepLR,
            {"milestones": [2, 5, 5], "gamma": 0.5},
        ),
        # MMEngine's window [0, end) ends one step after torch's total_iters
        (ConstantLR, {"factor": 0.25, "end": 4}, lr_scheduler.ConstantLR, {"factor": 0.25, "total_iters": 3}),
        (ExponentialLR, {"gamma": 0.8}, lr_scheduler.ExponentialLR, {"gamma": 0.8}),
        (
            LinearLR,
            {"start_factor": 0.1, "end_factor": 0.9, "end": 6},
            lr_scheduler.LinearLR,
            {"start_factor": 0.1, "end_factor": 0.9, "total_iters": 5},
        ),
        (PolyLR, {"power": 2.0, "end": 6}, lr_scheduler.PolynomialLR, {"power": 2.0, "total_iters": 5}),
        (PolyLR, {"power": 0.5, "end": 4}, lr_scheduler.PolynomialLR, {"power": 0.5, "total_iters": 3}),
    ],
)
def test_matches_torch_scheduler(
    cls: type[ParamScheduler], kwargs: dict, torch_cls: type, torch_kwargs: dict
) -> None:
    """Where MMEngine and torch agree (window from step 0), the same values, also past the end."""
    torch_optimizer = make_optimizer()
    expected = lrs(torch_optimizer, [torch_cls(torch_optimizer, **torch_kwargs)], 10)
    assert run(cls, 10, **kwargs) == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(
    ("cls", "kwargs", "expected"),
    [
        (
            LinearLR,
            {"start_factor": 0.5, "begin": 2, "end": 6},
            [0.1, 0.1, 0.05, 0.1 * 2 / 3, 0.1 * 5 / 6, 0.1, 0.1, 0.1],
        ),
        (
            StepLR,
            {"step_size": 2, "gamma": 0.5, "begin": 2, "end": 7},
            [0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.025],
        ),
        (ExponentialLR, {"gamma": 0.5, "begin": 1, "end": 4}, [0.1, 0.1, 0.05, 0.025, 0.025, 0.025]),
        (MultiStepLR, {"milestones": [1], "begin": 3, "end": 5}, [0.1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01]),
        (ConstantLR, {"factor": 0.5, "begin": 1, "end": 3}, [0.1, 0.05, 0.1, 0.1]),
        (PolyLR, {"begin": 2, "end": 5}, [0.1, 0.1, 0.1, 0.05, 0.0, 0.0, 0.0]),
    ],
)
def test_window_counts_steps_from_begin(
    cls: type[ParamScheduler], kwargs: dict, expected: list[float]
) -> None:
    """Inside ``[begin, end)`` the schedule runs from its own step 0; outside it the value stays."""
    assert run(cls, len(expected), **kwargs) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_nothing_is_written_outside_the_window() -> None:
    """A value set by someone else before ``begin`` or after ``end`` is left alone."""
    optimizer = make_optimizer()
    scheduler = ExponentialLR(optimizer, gamma=0.5, begin=3, end=5)
    group = optimizer.param_groups[0]
    seen = []
    for outside_value in [0.7, 0.6, None, None, None, 0.4, None]:
        if outside_value is not None:
            group["lr"] = outside_value
        seen.append(group["lr"])
        scheduler.step()
    # steps 3 and 4 are the window: t=0 keeps 0.6, t=1 halves it; 0.4 set after the end survives
    assert seen == pytest.approx([0.7, 0.6, 0.6, 0.6, 0.3, 0.4, 0.4])


def test_gap_between_windows_keeps_the_value() -> None:
    optimizer = make_optimizer()
    schedulers = [
        MultiStepLR(optimizer, milestones=[1], begin=0, end=2),
        ExponentialLR(optimizer, gamma=0.5, begin=5, end=8),
    ]
    expected = [0.1, 0.01, 0.01, 0.01, 0.01, 0.01, 0.005, 0.0025, 0.0025, 0.0025]
    assert lrs(optimizer, schedulers, 10) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("build", "closed_form"),
    [
        (
            lambda opt: [ExponentialLR(opt, gamma=0.9), StepLR(opt, step_size=2, gamma=0.5)],
            lambda k: 0.1 * 0.9**k * 0.5 ** (k // 2),
        ),
        (
            lambda opt: [LinearLR(opt, start_factor=0.25, end=5), ExponentialLR(opt, gamma=0.9)],
            lambda k: 0.1 * (0.25 + 0.75 * min(k, 4) / 4) * 0.9**k,
        ),
        (
            lambda opt: [ConstantLR(opt, factor=0.5, begin=2, end=5), MultiStepLR(opt, milestones=[1, 3])],
            lambda k: 0.1 * (0.5 if 2 <= k < 4 else 1.0) * 0.1 ** ((k >= 1) + (k >= 3)),
        ),
    ],
)
def test_overlapping_schedulers_compose_multiplicatively(build: Any, closed_form: Any) -> None:
    optimizer = make_optimizer()
    expected = [closed_form(k) for k in range(9)]
    assert lrs(optimizer, build(optimizer), 9) == pytest.approx(expected, rel=1e-12)


def test_overlap_matches_torch_schedulers_stepped_together() -> None:
    """torch's chainable LinearLR and ExponentialLR on one optimizer give the same product."""
    torch_optimizer = make_optimizer()
    torch_schedulers = [
        lr_scheduler.LinearLR(torch_optimizer, start_factor=0.25, total_iters=4),
        lr_scheduler.ExponentialLR(torch_optimizer, gamma=0.9),
    ]
    expected = lrs(torch_optimizer, torch_schedulers, 8)
    optimizer = make_optimizer()
    schedulers = [LinearLR(optimizer, start_factor=0.25, end=5), ExponentialLR(optimizer, gamma=0.9)]
    assert lrs(optimizer, schedulers, 8) == pytest.approx(expected, rel=1e-12)


def test_linear_warmup_then_multistep() -> None:
    """The usual config: a LinearLR warm-up, then MultiStepLR decays over the whole run."""
    optimizer = make_optimizer()
    schedulers = [
        LinearLR(optimizer, start_factor=0.25, begin=0, end=5),
        MultiStepLR(optimizer, milestones=[6, 8], gamma=0.1, begin=0, end=INF),
    ]
    expected = [0.025, 0.04375, 0.0625, 0.08125, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
    assert lrs(optimizer, schedulers, 10) == pytest.approx(expected, rel=1e-12)


def test_initial_lr_is_recorded_once_by_the_first_scheduler() -> None:
    """The second scheduler's base is the original lr, not the one the first scheduler wrote."""
    optimizer = torch.optim.SGD(
        [
            {"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.2},
            {"params": [torch.nn.Parameter(torch.zeros(1))]},
        ],
        lr=0.1,
    )
    first = ConstantLR(optimizer, factor=0.5, end=3)
    assert [g["lr"] for g in optimizer.param_groups] == [0.1, 0.05]
    second = LinearLR(optimizer, start_factor=0.5, end=3)
    assert [g["initial_lr"] for g in optimizer.param_groups] == [0.2, 0.1]
    assert first.base_values == second.base_values == [0.2, 0.1]
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.05, 0.025])


SCHEDULERS = [
    (StepLR, {"step_size": 2, "gamma": 0.5}),
    (MultiStepLR, {"milestones": [2, 4, 4]}),
    (ConstantLR, {"factor": 0.5, "begin": 1, "end": 6}),
    (ExponentialLR, {"gamma": 0.9}),
    (LinearLR, {"start_factor": 0.25, "end": 7}),
    (PolyLR, {"power": 2.0, "eta_min": 0.01, "end": 8}),
]


@pytest.mark.parametrize(("cls", "kwargs"), SCHEDULERS)
def test_resumed_from_state_dict_continues_identically(cls: type[ParamScheduler], kwargs: dict) -> None:
    """A checkpoint (optimizer + scheduler state) saved mid-schedule and loaded with
    ``weights_only=True`` into freshly built objects continues with the same values."""
    optimizer = make_optimizer()
    scheduler = cls(optimizer, **kwargs)
    lrs(optimizer, [scheduler], 3)
    buffer = io.BytesIO()
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, buffer)
    buffer.seek(0)
    checkpoint = torch.load(buffer, weights_only=True)
    assert "optimizer" not in checkpoint["scheduler"]

    resumed_optimizer = make_optimizer()
    resumed = cls(resumed_optimizer, **kwargs)  # the runner builds first, then loads
    resumed_optimizer.load_state_dict(checkpoint["optimizer"])
    resumed.load_state_dict(checkpoint["scheduler"])
    assert lrs(resumed_optimizer, [resumed], 6) == lrs(optimizer, [scheduler], 6)
    assert resumed.last_step == scheduler.last_step
    assert resumed.get_last_value() == scheduler.get_last_value()


@pytest.mark.parametrize(
    ("cls", "kwargs", "key"),
    [
        (ConstantLR, {"factor": 1.5}, "factor"),
        (ConstantLR, {"factor": -0.1}, "factor"),
        (ConstantLR, {"factor": 0.0}, "factor"),  # torch and MMEngine would divide by 0 at the end
        (LinearLR, {"start_factor": 0.0}, "start_factor"),
        (LinearLR, {"start_factor": 1.2}, "start_factor"),
        (LinearLR, {"end_factor": -0.5}, "end_factor"),
        (LinearLR, {"end_factor": 1.01}, "end_factor"),
        (StepLR, {"step_size": 0}, "step_size"),
        (ExponentialLR, {"gamma": 0.5, "begin": 3, "end": 3}, "end"),
        (StepLR, {"step_size": 1, "begin": 5, "end": 2}, "end"),
    ],
)
def test_bad_values_are_config_errors_naming_the_argument(
    cls: type[ParamScheduler], kwargs: dict, key: str
) -> None:
    with pytest.raises(ConfigError) as info:
        cls(make_optimizer(), **kwargs)
    assert info.value.key == key


def test_optimizer_without_param_groups_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="expected an optimizer"):
        StepLR(object(), step_size=1)


@pytest.mark.parametrize(
    ("kwargs", "floors"),
    [
        ({"eta_min_ratio": 0.1, "power": 0.9}, [0.01, 0.005]),
        ({"eta_min": 0.002}, [0.002, 0.002]),
        ({}, [0.0, 0.0]),
    ],
)
def test_poly_lr_ratio_follows_the_closed_form_per_group(kwargs: dict, floors: list[float]) -> None:
    """MMSegmentation's PolyLRRatio: m + (B - m) * (1 - t / T) ** power for each group, m =
    B * eta_min_ratio (or eta_min), reached at T = end - begin - 1 and kept after it."""
    from customrun_core.schedulers import PolyLRRatio

    params = [torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))]
    optimizer = torch.optim.SGD([{"params": [params[0]], "lr": 0.1}, {"params": [params[1]], "lr": 0.05}])
    scheduler = PolyLRRatio(optimizer, begin=1, end=6, **kwargs)
    power, seen = kwargs.get("power", 1.0), []
    for _ in range(9):
        seen.append([group["lr"] for group in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    for g, (base, m) in enumerate(zip((0.1, 0.05), floors, strict=True)):
        want = [base] + [m + (base - m) * (1 - min(k - 1, 4) / 4) ** power for k in range(1, 9)]
        assert [row[g] for row in seen] == pytest.approx(want, rel=1e-12, abs=1e-15)


def test_poly_lr_ratio_refuses_two_floors() -> None:
    from customrun_core.errors import ConfigError
    from customrun_core.optim import OptimWrapper
    from customrun_core.schedulers.build import build_param_schedulers

    table = {"type": "PolyLRRatio", "eta_min": 0.0, "eta_min_ratio": 0.1, "by_epoch": False}
    with pytest.raises(ConfigError) as info:
        build_param_schedulers([table], OptimWrapper(make_optimizer()), 10, 1, 10)
    assert str(info.value) == (
        "param_scheduler[0].eta_min: expected eta_min or eta_min_ratio, got both (eta_min = 0.0, eta_min_ratio = 0.1)"
    )
