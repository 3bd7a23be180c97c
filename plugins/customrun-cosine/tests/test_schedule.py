"""The seed's MAE schedule (a LinearLR warm-up, then CosineAnnealingLR, both converted to
iterations) through ``customrun schedule --json``, against closed forms written from MMEngine's
definitions at every one of its 1200 iterations."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner
from customrun_core.cli import cli

MAE = Path(__file__).resolve().parents[3] / "examples" / "seeds" / "mae_schedule.toml"
BASE, START = 0.0024, 1e-4  # AdamW's lr; LinearLR's start_factor
E = 3  # iterations per epoch


def warm_up(i: int) -> float:
    """LinearLR over iterations [0, 40 E): ``B (s + (1 - s) t / T)``, ``T = 40 E - 1``, the window's
    last step, where it reaches ``B``."""
    return BASE * (START + (1 - START) * i / (40 * E - 1))


def anneal(i: int) -> float:
    """CosineAnnealingLR over iterations [40 E, 400 E) with ``T_max = 360 E`` and ``eta_min = 0``:
    its step 0 keeps the value the warm-up left (``B``), then ``B (1 + cos(pi t / T_max)) / 2``."""
    return BASE * (1 + math.cos(math.pi * (i - 40 * E) / (360 * E))) / 2


def expected(i: int) -> float:
    return warm_up(i) if i < 40 * E else anneal(i)


@pytest.fixture(scope="module")
def schedule() -> dict:
    result = CliRunner().invoke(cli, ["schedule", str(MAE), "--json", "--iters-per-epoch", str(E)])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # the schedule covers the seed's 400 epochs: no coverage warning
    return json.loads(result.stdout)


def test_every_iteration_matches_the_closed_forms(schedule: dict) -> None:
    assert (schedule["iters_per_epoch"], schedule["max_iters"]) == (E, 400 * E)
    values = [group[0] for group in schedule["values"]["lr"]]
    assert len(values) == 1200
    assert values == pytest.approx([expected(i) for i in range(1200)], rel=1e-12)


def test_the_seams(schedule: dict) -> None:
    """The warm-up starts at B s and reaches B on its last iteration (119), which the cosine's first
    iteration (120) holds; the cosine's last value (1199, t = T_max - 1) is above eta_min = 0."""
    values = [group[0] for group in schedule["values"]["lr"]]
    assert values[0] == pytest.approx(BASE * START, rel=1e-12)
    assert values[119] == pytest.approx(BASE, rel=1e-12)
    assert values[120] == values[119]
    assert values[121] < values[120]
    assert values[1199] == pytest.approx(BASE * (1 - math.cos(math.pi / 1080)) / 2, rel=1e-9)
    assert values[1199] > 0
