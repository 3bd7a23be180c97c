"""The plugin scheduler of docs/schedulers.md, installed as a distribution, works as documented."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import torch

from customrun_core.errors import ConfigError
from customrun_core.optim import OptimWrapper
from customrun_core.schedulers.build import build_param_schedulers

DOC = Path(__file__).resolve().parents[2] / "docs" / "schedulers.md"


def example_source() -> str:
    text = DOC.read_text()
    section = text[text.index("## Writing a scheduler") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


@pytest.fixture
def plugin(customrun_distribution: Any) -> None:
    names = ("InverseSqrtLR", "InverseSqrtMomentum", "InverseSqrtParamScheduler")
    customrun_distribution(
        "customrun-inverse-sqrt",
        entry_points={"customrun.param_schedulers": {n: f"customrun_inverse_sqrt:{n}" for n in names}},
        modules={"customrun_inverse_sqrt.py": example_source()},
    )


def values(optimizer: Any, schedulers: list[Any], steps: int, read: Any) -> list[Any]:
    seen = []
    for _ in range(steps):
        seen.append(read(optimizer.param_groups[0]))
        for scheduler in schedulers:
            scheduler.step()
    return seen


@pytest.mark.usefixtures("plugin")
def test_lr_form_from_a_config() -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    (scheduler,) = build_param_schedulers(
        [{"type": "InverseSqrtLR", "warmup": 2, "by_epoch": False}], OptimWrapper(optimizer), 5, 2, 10
    )
    expected = [0.1, 0.1, 0.1 * (2 / 3) ** 0.5, 0.1 * (2 / 4) ** 0.5, 0.1 * (2 / 5) ** 0.5]
    assert values(optimizer, [scheduler], 5, lambda g: g["lr"]) == pytest.approx(expected, rel=1e-12)
    assert type(scheduler).__module__ == "customrun_inverse_sqrt"


@pytest.mark.usefixtures("plugin")
def test_momentum_form_drives_adams_beta1_and_warmup_converts() -> None:
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=0.1, betas=(0.9, 0.99))
    table = {"type": "InverseSqrtMomentum", "warmup": 1, "convert_to_iter_based": True}
    (scheduler,) = build_param_schedulers([table], OptimWrapper(optimizer), 2, 2, 4)
    assert (scheduler.warmup, scheduler.end, scheduler.by_epoch) == (2, 4, False)
    expected = [(0.9, 0.99), (0.9, 0.99), (0.9 * (2 / 3) ** 0.5, 0.99), (0.9 * (2 / 4) ** 0.5, 0.99)]
    got = values(optimizer, [scheduler], 4, lambda g: g["betas"])
    assert got == [pytest.approx(pair, rel=1e-12) for pair in expected]


@pytest.mark.usefixtures("plugin")
def test_bad_value_points_at_its_key() -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ConfigError) as info:
        build_param_schedulers([{"type": "InverseSqrtLR", "warmup": 0}], OptimWrapper(optimizer), 5, 2, 10)
    assert info.value.key == "param_scheduler[0].warmup"
