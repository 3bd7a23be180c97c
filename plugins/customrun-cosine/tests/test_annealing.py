"""CosineAnnealing* against MMEngine's [ran] numbers, the closed form at every step and torch's
``CosineAnnealingLR``; its momentum twin, config errors, conversion to iterations and resuming."""

from __future__ import annotations

import io
import math
from typing import Any

import pytest
import torch
from customrun_core.errors import ConfigError
from customrun_core.optim import OptimWrapper
from customrun_core.schedulers import INF, ConstantLR
from customrun_core.schedulers.build import build_param_schedulers
from torch.optim import lr_scheduler

from customrun_cosine import CosineAnnealingLR, CosineAnnealingMomentum, CosineAnnealingParamScheduler

EXACT = {"rel": 1e-12, "abs": 1e-15}


def annealed(base: float, floor: float, period: float, t: int) -> float:
    """The closed form: ``m + (B - m) * (1 + cos(pi t / T_max)) / 2``."""
    return floor + (base - floor) * (1 + math.cos(math.pi * t / period)) / 2


def expected(base: float, floor: float, period: float, begin: int, end: int, steps: int) -> list[float]:
    """The value at each step: the base before ``begin``, the closed form inside the window, the
    last value written (at ``end - 1``) after it."""
    return [annealed(base, floor, period, min(max(k, begin), end - 1) - begin) for k in range(steps)]


def column(rows: list[list[float]], group: int = 0) -> list[float]:
    return [row[group] for row in rows]


@pytest.mark.parametrize(
    ("kwargs", "numbers"),
    [
        ({"T_max": 4}, [0.1, 0.0853553, 0.05, 0.0146447, 0.0, 0.0146447, 0.05, 0.0853553, 0.1]),
        ({"eta_min_ratio": 0.1, "end": 4}, [0.1, 0.0868198, 0.055, 0.0231802, 0.0231802, 0.0231802]),
    ],
)
def test_matches_mmengine_ran_numbers(sgd: Any, trace: Any, kwargs: dict, numbers: list[float]) -> None:
    """The values MMEngine produced (reference section 7, to the digits given): past ``T_max`` the
    value climbs back; with ``end - begin == T_max`` the floor is never written."""
    optimizer = sgd(0.1)
    values = column(trace(optimizer, [CosineAnnealingLR(optimizer, **kwargs)], len(numbers)))
    assert values == pytest.approx(numbers, abs=5e-8)


@pytest.mark.parametrize(
    ("kwargs", "floors", "period", "window"),
    [
        ({"T_max": 5}, [0.0, 0.0], 5, (0, INF)),
        ({"T_max": 7, "eta_min": 0.01}, [0.01, 0.01], 7, (0, INF)),
        ({"T_max": 6, "eta_min_ratio": 0.2}, [0.02, 0.01], 6, (0, INF)),
        ({"begin": 3, "end": 11}, [0.0, 0.0], 8, (3, 11)),  # T_max = end - begin
        ({"T_max": 4, "eta_min": 0.005, "begin": 2, "end": 12}, [0.005, 0.005], 4, (2, 12)),
        ({"T_max": 1, "eta_min": 0.01}, [0.01, 0.01], 1, (0, INF)),  # every step a trough or a crest
    ],
)
def test_every_step_follows_the_closed_form(
    sgd: Any, trace: Any, kwargs: dict, floors: list[float], period: int, window: tuple[int, int]
) -> None:
    """Two groups (lr 0.1 and 0.05), every step of three periods and more: MMEngine's chainable
    recursion is the closed form, before, inside and after the window."""
    optimizer = sgd(0.1, 0.05)
    steps = 3 * period + 5
    rows = trace(optimizer, [CosineAnnealingLR(optimizer, **kwargs)], steps)
    for group, (base, floor) in enumerate(zip([0.1, 0.05], floors, strict=True)):
        end = min(window[1], steps + 1)
        assert column(rows, group) == pytest.approx(
            expected(base, floor, period, window[0], end, steps), **EXACT
        )


@pytest.mark.parametrize(("T_max", "eta_min"), [(5, 0.0), (4, 0.01), (1, 0.02), (10, 0.001)])
def test_matches_torch_cosine_annealing_lr(sgd: Any, trace: Any, T_max: int, eta_min: float) -> None:
    """Window from step 0 to INF: the same recursion as torch's, oscillating past ``T_max`` alike."""
    torch_optimizer = sgd(0.1, 0.05)
    reference = lr_scheduler.CosineAnnealingLR(torch_optimizer, T_max=T_max, eta_min=eta_min)
    steps = 4 * T_max + 3
    torch_rows = trace(torch_optimizer, [reference], steps)
    optimizer = sgd(0.1, 0.05)
    rows = trace(optimizer, [CosineAnnealingLR(optimizer, T_max=T_max, eta_min=eta_min)], steps)
    for group in (0, 1):
        assert column(rows, group) == pytest.approx(column(torch_rows, group), **EXACT)


def test_the_first_step_keeps_the_current_value_and_composes(sgd: Any, trace: Any) -> None:
    """t = 0 writes the value already there, and the recursion scales ``b - m``: with a floor of 0
    an overlapping ``ConstantLR`` (never undone, end = INF) multiplies the cosine down to the
    trough. The step after it adds ``(B - m)(1 - cos(pi / T_max)) / 2`` from the base value,
    unscaled (MMEngine and torch alike)."""
    optimizer = sgd(0.1)
    schedulers = [ConstantLR(optimizer, factor=0.5), CosineAnnealingLR(optimizer, T_max=6)]
    values = column(trace(optimizer, schedulers, 8))
    assert values[:7] == pytest.approx([0.5 * annealed(0.1, 0.0, 6, t) for t in range(7)], **EXACT)
    assert values[7] == pytest.approx(values[6] + 0.1 * (1 - math.cos(math.pi / 6)) / 2, **EXACT)


def momentum(group: dict[str, Any]) -> float:
    return group["momentum"]


def beta1(group: dict[str, Any]) -> float:
    return group["betas"][0]


@pytest.mark.parametrize(
    ("make", "read"),
    [
        (lambda p: torch.optim.SGD([p], lr=0.1, momentum=0.9), momentum),
        (lambda p: torch.optim.Adam([p], lr=0.1, betas=(0.9, 0.999)), beta1),
    ],
    ids=["sgd-momentum", "adam-beta1"],
)
def test_momentum_twin_matches_torchs_lr_schedule_on_the_same_numbers(
    sgd: Any, trace: Any, make: Any, read: Any
) -> None:
    """SGD's ``momentum`` and Adam's ``betas[0]`` follow torch's CosineAnnealingLR run on lr 0.9;
    Adam's ``betas[1]`` is left alone."""
    torch_optimizer = sgd(0.9)
    reference = lr_scheduler.CosineAnnealingLR(torch_optimizer, T_max=5, eta_min=0.85)
    expected_values = column(trace(torch_optimizer, [reference], 14))
    optimizer = make(torch.nn.Parameter(torch.zeros(1)))
    scheduler = CosineAnnealingMomentum(optimizer, T_max=5, eta_min=0.85)
    assert column(trace(optimizer, [scheduler], 14, read)) == pytest.approx(expected_values, **EXACT)
    assert optimizer.param_groups[0]["lr"] == 0.1
    if "betas" in optimizer.param_groups[0]:
        assert optimizer.param_groups[0]["betas"][1] == 0.999


def test_generic_form_schedules_weight_decay(trace: Any) -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, weight_decay=0.05)
    scheduler = CosineAnnealingParamScheduler(optimizer, "weight_decay", eta_min_ratio=0.1, end=8)
    rows = trace(optimizer, [scheduler], 10, lambda g: (g["weight_decay"], g["lr"]))
    assert [row[0][0] for row in rows] == pytest.approx(expected(0.05, 0.005, 8, 0, 8, 10), **EXACT)
    assert {row[0][1] for row in rows} == {0.1}


def build(tables: list[dict[str, Any]], epoch_length: int = 5) -> list[Any]:
    wrapper = OptimWrapper(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1))
    return build_param_schedulers(tables, wrapper, epoch_length, 4, 4 * epoch_length)


@pytest.mark.parametrize(
    ("table", "fields"),
    [
        (
            {"T_max": 2, "begin": 1, "end": 3},
            {"T_max": 10, "begin": 5, "end": 15, "by_epoch": False},
        ),
        ({"begin": 1, "end": 3}, {"T_max": 10, "begin": 5, "end": 15}),  # T_max: the converted window
        ({"begin": 1}, {"T_max": 15, "begin": 5, "end": 20}),  # end: max_epochs, converted
    ],
)
def test_convert_to_iter_based_scales_t_max(table: dict, fields: dict) -> None:
    cfg = {"type": "CosineAnnealingLR", "convert_to_iter_based": True, **table}
    (scheduler,) = build([cfg])
    assert {name: getattr(scheduler, name) for name in fields} == fields


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            {"eta_min": 0.0, "eta_min_ratio": 0.1},
            "param_scheduler[0].eta_min: expected eta_min or eta_min_ratio, got both "
            "(eta_min = 0.0, eta_min_ratio = 0.1)",
        ),
        ({"T_max": 0}, "param_scheduler[0].T_max: expected an integer >= 1, got 0"),
    ],
)
def test_refused_values_are_one_line_config_errors_at_their_key(table: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        build([{"type": "CosineAnnealingLR", **table}])
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("cls", "kwargs", "make", "read"),
    [
        (CosineAnnealingLR, {"T_max": 4, "eta_min": 0.01}, lambda p: torch.optim.SGD([p], lr=0.1), None),
        (
            CosineAnnealingMomentum,
            {"eta_min_ratio": 0.5, "end": 7},
            lambda p: torch.optim.Adam([p], lr=0.1),
            beta1,
        ),
    ],
)
def test_resumed_from_state_dict_continues_identically(
    trace: Any, cls: type, kwargs: dict, make: Any, read: Any
) -> None:
    """Saved after 5 steps (past the first trough for T_max 4), loaded with ``weights_only=True``
    into a freshly built optimizer and scheduler: the same values from there on."""
    read = read or (lambda g: g["lr"])
    optimizer = make(torch.nn.Parameter(torch.zeros(1)))
    scheduler = cls(optimizer, **kwargs)
    trace(optimizer, [scheduler], 5, read)
    buffer = io.BytesIO()
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, buffer)
    buffer.seek(0)
    checkpoint = torch.load(buffer, weights_only=True)
    resumed_optimizer = make(torch.nn.Parameter(torch.zeros(1)))
    resumed = cls(resumed_optimizer, **kwargs)
    resumed_optimizer.load_state_dict(checkpoint["optimizer"])
    resumed.load_state_dict(checkpoint["scheduler"])
    assert trace(resumed_optimizer, [resumed], 8, read) == trace(optimizer, [scheduler], 8, read)
    assert resumed.state_dict() == scheduler.state_dict()
