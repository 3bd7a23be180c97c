"""OneCycleLR against MMEngine's [ran] numbers, torch's OneCycleLR and the closed form."""

from __future__ import annotations

import io
import math
from typing import Any

import pytest
import torch
from torch.optim import lr_scheduler

from customrun_core.errors import ConfigError
from customrun_core.optim import OptimWrapper
from customrun_core.schedulers import ExponentialLR, OneCycleLR
from customrun_core.schedulers.build import build_param_schedulers

RAN = [0.04, 0.52, 1.0, 0.950485, 0.811746, 0.611262, 0.388742, 0.188258, 0.0495194, 4e-6]


def make_optimizer(*group_lrs: float) -> torch.optim.SGD:
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr} for lr in group_lrs or (0.1,)]
    return torch.optim.SGD(groups, lr=0.1)


def lrs(optimizer: Any, schedulers: list[Any], count: int, group: int = 0) -> list[float]:
    """The first ``count`` values in effect (``count - 1`` steps between them)."""
    seen = [optimizer.param_groups[group]["lr"]]
    for _ in range(count - 1):
        optimizer.step()
        for scheduler in schedulers:
            scheduler.step()
        seen.append(optimizer.param_groups[group]["lr"])
    return seen


def test_matches_mmengine_ran_numbers() -> None:
    optimizer = make_optimizer()
    assert lrs(optimizer, [OneCycleLR(optimizer, eta_max=1.0, total_steps=10)], 10) == pytest.approx(
        RAN, rel=1e-5
    )


def test_closed_form_by_hand() -> None:
    """Two cosine phases: up over steps 0..2 (0.3 * 10 - 1 = 2), down over 2..9."""
    start, peak, final = 1.0 / 25, 1.0, 1.0 / 25 / 1e4

    def cos(a: float, b: float, pct: float) -> float:
        return b + (a - b) / 2 * (math.cos(math.pi * pct) + 1)

    expected = [cos(start, peak, t / 2) for t in range(3)] + [
        cos(peak, final, (t - 2) / 7) for t in range(3, 10)
    ]
    optimizer = make_optimizer()
    assert lrs(optimizer, [OneCycleLR(optimizer, eta_max=1.0, total_steps=10)], 10) == pytest.approx(
        expected, rel=1e-12
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"total_steps": 10},
        {"total_steps": 20, "pct_start": 0.25, "anneal_strategy": "linear"},
        {"total_steps": 17, "div_factor": 10.0, "final_div_factor": 100.0},
        {"total_steps": 20, "three_phase": True},
        {"total_steps": 30, "pct_start": 0.4, "three_phase": True, "anneal_strategy": "linear"},
    ],
)
def test_matches_torch_one_cycle(kwargs: dict) -> None:
    """torch's OneCycleLR with ``max_lr = eta_max`` and ``cycle_momentum = False`` (MMEngine's
    OneCycleLR schedules only the lr); every step of the cycle, the one past its end included."""
    steps = kwargs["total_steps"] + 1
    torch_optimizer = make_optimizer()
    torch_scheduler = lr_scheduler.OneCycleLR(torch_optimizer, max_lr=0.5, cycle_momentum=False, **kwargs)
    expected = lrs(torch_optimizer, [torch_scheduler], steps)
    optimizer = make_optimizer()
    assert lrs(optimizer, [OneCycleLR(optimizer, eta_max=0.5, **kwargs)], steps) == pytest.approx(
        expected, rel=1e-12, abs=1e-15
    )


def test_one_peak_per_group() -> None:
    def both(make: Any) -> list[list[float]]:
        optimizer = make_optimizer(0.1, 0.2)
        scheduler = make(optimizer)
        seen = []
        for _ in range(8):
            seen.append([g["lr"] for g in optimizer.param_groups])
            optimizer.step()
            scheduler.step()
        return seen

    expected = both(
        lambda opt: lr_scheduler.OneCycleLR(opt, max_lr=[1.0, 0.1], total_steps=8, cycle_momentum=False)
    )
    got = both(lambda opt: OneCycleLR(opt, eta_max=[1.0, 0.1], total_steps=8))
    assert got == [pytest.approx(row, rel=1e-12) for row in expected]


def test_a_wrappers_base_group_takes_the_last_peak() -> None:
    optimizer = make_optimizer(0.1, 0.2)
    wrapper = OptimWrapper(optimizer)
    OneCycleLR(wrapper, eta_max=[1.0, 0.5], total_steps=8)
    assert [g["lr"] for g in wrapper.param_groups] == pytest.approx([0.04, 0.02, 0.02])


def test_window_starts_at_begin_and_total_steps_defaults_to_its_length() -> None:
    """Before ``begin`` the lr is left as it is; the cycle then runs over ``end - begin`` steps."""
    optimizer = make_optimizer()
    scheduler = OneCycleLR(optimizer, eta_max=1.0, begin=2, end=12)
    assert scheduler.total_steps == 10
    assert lrs(optimizer, [scheduler], 13) == pytest.approx([0.1, 0.1, *RAN, RAN[-1]], rel=1e-5)


def test_not_chainable_it_overrides_what_another_scheduler_wrote() -> None:
    optimizer = make_optimizer()
    schedulers = [ExponentialLR(optimizer, gamma=0.5), OneCycleLR(optimizer, eta_max=1.0, total_steps=10)]
    assert lrs(optimizer, schedulers, 10) == pytest.approx(RAN, rel=1e-5)


def test_one_step_warm_up_does_not_divide_by_zero() -> None:
    """pct_start * total_steps == 1: the first phase is its own last step, so it ends at the peak
    (torch raises ZeroDivisionError here)."""
    optimizer = make_optimizer()
    scheduler = OneCycleLR(optimizer, eta_max=1.0, total_steps=10, pct_start=0.1, anneal_strategy="linear")
    final = 1.0 / 25 / 1e4
    expected = [1.0 + (final - 1.0) * t / 9 for t in range(10)]
    assert lrs(optimizer, [scheduler], 10) == pytest.approx(expected, rel=1e-12)


def test_built_without_end_spans_the_runs_iterations() -> None:
    """Iteration-based by default (MMEngine), so a missing ``end`` is ``max_iters``."""
    optimizer = make_optimizer()
    (scheduler,) = build_param_schedulers(
        [{"type": "OneCycleLR", "eta_max": 1.0}], OptimWrapper(optimizer), 5, 2, 10
    )
    assert (scheduler.by_epoch, scheduler.end, scheduler.total_steps) == (False, 10, 10)
    assert lrs(optimizer, [scheduler], 10) == pytest.approx(RAN, rel=1e-5)


def test_convert_to_iter_based_scales_total_steps() -> None:
    table = {
        "type": "OneCycleLR",
        "eta_max": 1.0,
        "by_epoch": True,
        "total_steps": 2,
        "convert_to_iter_based": True,
    }
    (scheduler,) = build_param_schedulers([table], OptimWrapper(make_optimizer()), 5, 2, 10)
    assert (scheduler.by_epoch, scheduler.begin, scheduler.end, scheduler.total_steps) == (False, 0, 10, 10)


def test_convert_to_iter_based_without_by_epoch_is_refused() -> None:
    """OneCycleLR is iteration-based unless the config says ``by_epoch = true``."""
    table = {"type": "OneCycleLR", "eta_max": 1.0, "convert_to_iter_based": True}
    with pytest.raises(ConfigError, match="needs by_epoch = true"):
        build_param_schedulers([table], OptimWrapper(make_optimizer()), 5, 2, 10)


@pytest.mark.parametrize(
    ("table", "key", "match"),
    [
        ({"type": "OneCycleLR"}, "param_scheduler[0].eta_max", "required argument is missing"),
        ({"type": "OneCycleLR", "eta_max": 1.0, "pct_start": 1.5}, "param_scheduler[0].pct_start", r"\[0, 1\]"),
        ({"type": "OneCycleLR", "eta_max": 1.0, "anneal_strategy": "cosine"}, "param_scheduler[0].anneal_strategy", "one of 'cos', 'linear'"),
        ({"type": "OneCycleLR", "eta_max": 1.0, "total_steps": 0}, "param_scheduler[0].total_steps", ">= 1"),
        ({"type": "OneCycleLR", "eta_max": [1.0, 2.0]}, "param_scheduler[0].eta_max", r"one value per parameter group \(1\)"),
        ({"type": "OneCycleLR", "eta_max": 1.0, "total_steps": 5}, "param_scheduler[0].total_steps", "would fail at step 6"),
    ],
)  # fmt: skip
def test_bad_arguments_are_config_errors(table: dict, key: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        build_param_schedulers([table], OptimWrapper(make_optimizer()), 5, 2, 10)
    assert info.value.key == key


def test_stepping_past_the_cycle_is_an_error() -> None:
    """As torch and MMEngine: the cycle has ``total_steps + 1`` values; with an endless window the
    next step says so."""
    optimizer = make_optimizer()
    scheduler = OneCycleLR(optimizer, eta_max=1.0, total_steps=3, end=1_000_000_000)
    lrs(optimizer, [scheduler], 4)  # t = 0..3
    with pytest.raises(ConfigError, match="stepped 5 times but total_steps is 3"):
        scheduler.step()


def test_resumes_from_a_weights_only_checkpoint() -> None:
    optimizer = make_optimizer()
    scheduler = OneCycleLR(optimizer, eta_max=1.0, total_steps=10)
    lrs(optimizer, [scheduler], 5)  # 4 steps taken
    buffer = io.BytesIO()
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, buffer)
    buffer.seek(0)
    checkpoint = torch.load(buffer, weights_only=True)
    resumed_optimizer = make_optimizer()
    resumed = OneCycleLR(resumed_optimizer, eta_max=1.0, total_steps=10)
    resumed_optimizer.load_state_dict(checkpoint["optimizer"])
    resumed.load_state_dict(checkpoint["scheduler"])
    assert lrs(resumed_optimizer, [resumed], 6) == pytest.approx(RAN[4:], rel=1e-5)
    assert resumed.last_step == 9
