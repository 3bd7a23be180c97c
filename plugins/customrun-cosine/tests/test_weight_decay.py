"""MMPretrain's CosineAnnealingWeightDecay: the closed form on weight_decay at every step, a group
whose weight decay starts at 0 held at 0, and the entry point."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from customrun_core import registry
from customrun_core.optim import OptimWrapper
from customrun_core.schedulers.build import build_param_schedulers

from customrun_cosine import CosineAnnealingWeightDecay


def closed_form(base: float, floor: float, period: int, t: int) -> float:
    """m + (B - m) * (1 + cos(pi t / T_max)) / 2, and 0 for a base of 0 (MMPretrain)."""
    return 0.0 if base == 0 else floor + (base - floor) * (1 + math.cos(math.pi * t / period)) / 2


@pytest.mark.parametrize(
    ("floor", "end", "steps"), [({"eta_min": 0.01}, 6, 10), ({"eta_min_ratio": 0.1}, 4, 6)]
)
def test_every_step_follows_the_closed_form(
    trace: Any, floor: dict[str, float], end: int, steps: int
) -> None:
    """Two groups, weight_decay 0.05 and 0: the first anneals, the second stays 0 even with a floor
    above 0; lr is untouched. With T_max 4 and end 6 the value turns up again past T_max."""
    params = [torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))]
    optimizer = torch.optim.AdamW(
        [{"params": [params[0]]}, {"params": [params[1]], "weight_decay": 0.0}], lr=0.1, weight_decay=0.05
    )
    scheduler = CosineAnnealingWeightDecay(optimizer, T_max=4, end=end, **floor)
    rows = trace(optimizer, [scheduler], steps, lambda g: (g["weight_decay"], g["lr"]))
    m = floor.get("eta_min", 0.05 * floor.get("eta_min_ratio", 0.0))
    want = [closed_form(0.05, m, 4, min(k, end - 1)) for k in range(steps)]
    assert [row[0][0] for row in rows] == pytest.approx(want, rel=1e-12, abs=1e-15)
    assert {row[1][0] for row in rows} == {0.0}
    assert {row[g][1] for row in rows for g in (0, 1)} == {0.1}


def test_the_entry_point_builds_it_from_a_config() -> None:
    registry.refresh()
    assert registry.resolve("param_schedulers", "CosineAnnealingWeightDecay") is CosineAnnealingWeightDecay
    wrapper = OptimWrapper(torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=0.1, weight_decay=0.05))
    table = {
        "type": "CosineAnnealingWeightDecay",
        "eta_min": 0.0,
        "by_epoch": True,
        "convert_to_iter_based": True,
    }
    (scheduler,) = build_param_schedulers([table], wrapper, 5, 4, 20)
    assert (scheduler.param_name, scheduler.T_max, scheduler.by_epoch) == ("weight_decay", 20, False)
