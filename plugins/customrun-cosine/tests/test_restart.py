"""CosineRestart* against MMEngine's [ran] numbers, the closed form at every step and torch's
``CosineAnnealingWarmRestarts``; its momentum twin, config errors, conversion and resuming."""

from __future__ import annotations

import io
import math
from itertools import accumulate
from typing import Any

import pytest
import torch
from customrun_core.errors import ConfigError
from customrun_core.optim import OptimWrapper
from customrun_core.schedulers.build import build_param_schedulers
from torch.optim import lr_scheduler

from customrun_cosine import CosineRestartLR, CosineRestartMomentum, CosineRestartParamScheduler

EXACT = {"rel": 1e-12, "abs": 1e-15}


def restarted(base: float, floor: float, periods: list[int], weights: list[float], t: int) -> float:
    """The closed form at step ``t`` of the window: in period ``i`` at step ``s`` of it,
    ``m + (B w_i - m) * (1 + cos(pi s / P_i)) / 2``; after the last period, its last value."""
    t = min(t, sum(periods) - 1)
    starts = [0, *accumulate(periods)]
    i = max(i for i in range(len(periods)) if starts[i] <= t)
    peak = base * weights[i]
    return floor + (peak - floor) * (1 + math.cos(math.pi * (t - starts[i]) / periods[i])) / 2


def column(rows: list[list[float]], group: int = 0) -> list[float]:
    return [row[group] for row in rows]


def test_matches_mmengine_ran_numbers(sgd: Any, trace: Any) -> None:
    """Reference section 7: periods [3, 3], weights [1, 0.5], then constant."""
    optimizer = sgd(0.1)
    scheduler = CosineRestartLR(optimizer, periods=[3, 3], restart_weights=[1, 0.5], eta_min=0.0)
    numbers = [0.1, 0.075, 0.025, 0.05, 0.0375, 0.0125, 0.0125, 0.0125]
    assert column(trace(optimizer, [scheduler], 8)) == pytest.approx(numbers, **EXACT)


@pytest.mark.parametrize(
    ("kwargs", "floors"),
    [
        ({"periods": [4, 2, 5], "restart_weights": [1.0, 0.8, 0.3], "eta_min": 0.001}, [0.001, 0.001]),
        ({"periods": [5, 3], "restart_weights": [0.5, 1.0], "eta_min_ratio": 0.1}, [0.01, 0.005]),
        ({"periods": [1, 3, 1], "restart_weights": [1.0, 0.5, 0.25], "eta_min": 0.0}, [0.0, 0.0]),
        ({"periods": [6], "eta_min": 0.02}, [0.02, 0.02]),  # restart_weights = (1,)
    ],
)
def test_every_step_follows_the_closed_form(sgd: Any, trace: Any, kwargs: dict, floors: list[float]) -> None:
    """Two groups (lr 0.1 and 0.05), from step 2 (``begin``) to past the last period; a restart
    jumps up from whatever the period before left (above or below the floor)."""
    optimizer = sgd(0.1, 0.05)
    periods = kwargs["periods"]
    weights = kwargs.get("restart_weights", [1.0])
    steps = sum(periods) + 6
    rows = trace(optimizer, [CosineRestartLR(optimizer, begin=2, **kwargs)], steps)
    for group, (base, floor) in enumerate(zip([0.1, 0.05], floors, strict=True)):
        want = [base] * 2 + [restarted(base, floor, periods, weights, t) for t in range(steps - 2)]
        assert column(rows, group) == pytest.approx(want, **EXACT)


def test_window_end_cuts_the_cycles(sgd: Any, trace: Any) -> None:
    optimizer = sgd(0.1)
    scheduler = CosineRestartLR(optimizer, periods=[4, 4], eta_min=0.0, restart_weights=[1, 1], end=6)
    want = [restarted(0.1, 0.0, [4, 4], [1, 1], min(t, 5)) for t in range(9)]
    assert column(trace(optimizer, [scheduler], 9)) == pytest.approx(want, **EXACT)


@pytest.mark.parametrize(("T_0", "T_mult", "cycles"), [(3, 1, 4), (2, 2, 3), (1, 3, 3), (5, 1, 1)])
def test_matches_torch_warm_restarts_where_they_coincide(
    sgd: Any, trace: Any, T_0: int, T_mult: int, cycles: int
) -> None:
    """torch's ``CosineAnnealingWarmRestarts(T_0, T_mult, eta_min)`` is ``periods = [T_0, T_0 T_mult,
    T_0 T_mult^2, ...]`` with every restart weight 1 (torch has no weights), for as many steps as
    the periods last: after them MMEngine's schedule holds its last value while torch restarts
    forever. torch computes the closed form, MMEngine chains: equal to round-off."""
    periods = [T_0 * T_mult**i for i in range(cycles)]
    torch_optimizer = sgd(0.1, 0.05)
    reference = lr_scheduler.CosineAnnealingWarmRestarts(
        torch_optimizer, T_0=T_0, T_mult=T_mult, eta_min=0.01
    )
    torch_rows = trace(torch_optimizer, [reference], sum(periods))
    optimizer = sgd(0.1, 0.05)
    scheduler = CosineRestartLR(optimizer, periods=periods, restart_weights=[1] * cycles, eta_min=0.01)
    rows = trace(optimizer, [scheduler], sum(periods) + 1)
    for group in (0, 1):
        assert column(rows, group)[:-1] == pytest.approx(column(torch_rows, group), **EXACT)
    assert rows[-1] == rows[-2]  # held, where torch would restart


@pytest.mark.parametrize(
    ("make", "read"),
    [
        (lambda p: torch.optim.SGD([p], lr=0.1, momentum=0.9), lambda g: g["momentum"]),
        (lambda p: torch.optim.AdamW([p], lr=0.1, betas=(0.9, 0.95)), lambda g: g["betas"][0]),
    ],
    ids=["sgd-momentum", "adamw-beta1"],
)
def test_momentum_twin_on_sgd_and_adam(trace: Any, make: Any, read: Any) -> None:
    optimizer = make(torch.nn.Parameter(torch.zeros(1)))
    scheduler = CosineRestartMomentum(optimizer, periods=[3, 4], restart_weights=[1, 0.95], eta_min=0.8)
    want = [restarted(0.9, 0.8, [3, 4], [1, 0.95], t) for t in range(9)]
    assert column(trace(optimizer, [scheduler], 9, read)) == pytest.approx(want, **EXACT)
    group = optimizer.param_groups[0]
    assert group["lr"] == 0.1
    assert group.get("betas", (0, 0.95))[1] == 0.95


def test_generic_form_schedules_weight_decay(trace: Any) -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, weight_decay=0.05)
    scheduler = CosineRestartParamScheduler(
        optimizer, "weight_decay", periods=[2, 2], restart_weights=[1, 1], eta_min=0.0
    )
    rows = trace(optimizer, [scheduler], 5, lambda g: g["weight_decay"])
    assert column(rows) == pytest.approx([0.05, 0.025, 0.05, 0.025, 0.025], **EXACT)


def build(tables: list[dict[str, Any]], epoch_length: int = 5) -> list[Any]:
    wrapper = OptimWrapper(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1))
    return build_param_schedulers(tables, wrapper, epoch_length, 4, 4 * epoch_length)


def test_convert_to_iter_based_scales_the_periods() -> None:
    table = {
        "type": "CosineRestartLR",
        "periods": [1, 2],
        "restart_weights": [1, 0.5],
        "eta_min": 0.0,
        "begin": 1,
        "convert_to_iter_based": True,
    }
    (scheduler,) = build([table])
    assert (scheduler.periods, scheduler.cumulative_periods) == ([5, 10], [5, 15])
    assert (scheduler.begin, scheduler.end, scheduler.by_epoch) == (5, 20, False)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            {"periods": [3]},
            "param_scheduler[0].eta_min: expected eta_min or eta_min_ratio (exactly one is required), "
            "got neither",
        ),
        (
            {"periods": [3], "eta_min": 0.0, "eta_min_ratio": 0.1},
            "param_scheduler[0].eta_min: expected eta_min or eta_min_ratio, got both "
            "(eta_min = 0.0, eta_min_ratio = 0.1)",
        ),
        (
            {"periods": [3, 3], "eta_min": 0.0},
            "param_scheduler[0].restart_weights: expected one weight per period (2), got 1",
        ),
        (
            {"periods": [], "restart_weights": [], "eta_min": 0.0},
            "param_scheduler[0].periods: expected a non-empty array of integers >= 1, got []",
        ),
        (
            {"periods": [3, 0], "restart_weights": [1, 1], "eta_min": 0.0},
            "param_scheduler[0].periods: expected a non-empty array of integers >= 1, got [3, 0]",
        ),
    ],
)
def test_refused_values_are_one_line_config_errors_at_their_key(table: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        build([{"type": "CosineRestartLR", **table}])
    assert str(info.value) == message


def test_resumed_from_state_dict_continues_identically(trace: Any) -> None:
    """Saved mid-way through the second period, loaded with ``weights_only=True`` into freshly built
    objects (AdamW: the momentum form's state included)."""
    kwargs = {"periods": [3, 4, 2], "restart_weights": [1.0, 0.9, 0.95], "eta_min_ratio": 0.9}

    def make() -> tuple[torch.optim.AdamW, Any]:
        optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        return optimizer, CosineRestartMomentum(optimizer, **kwargs)

    def read(group: dict[str, Any]) -> float:
        return group["betas"][0]

    optimizer, scheduler = make()
    trace(optimizer, [scheduler], 5, read)
    buffer = io.BytesIO()
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, buffer)
    buffer.seek(0)
    checkpoint = torch.load(buffer, weights_only=True)
    resumed_optimizer, resumed = make()
    resumed_optimizer.load_state_dict(checkpoint["optimizer"])
    resumed.load_state_dict(checkpoint["scheduler"])
    assert trace(resumed_optimizer, [resumed], 7, read) == trace(optimizer, [scheduler], 7, read)
    assert resumed.state_dict() == scheduler.state_dict()
