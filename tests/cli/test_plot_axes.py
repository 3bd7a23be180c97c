"""``customrun plot``'s axes (issue 21, item 11): lr on a log axis when it spans more than 2 decades
(and any subplot with ``--log-y``), and a step schedule drawn as steps, where it stepped.

The figures are read back from what ``customrun plot`` would save (``plotting.save`` captured), and
the lines' data checked against ``scalars.jsonl`` read here with ``json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomli_w
from matplotlib import cbook

from customrun_core import plotting
from customrun_core.testing import CliResult
from customrun_core.testkit import tiny_config

# Three epochs; lr 0.1, then 1e-3 after epoch 1 and 1e-5 after epoch 2: four decades.
STEPS = [{"type": "MultiStepLR", "milestones": [1, 2], "gamma": 0.01}]


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The figures ``customrun plot`` draws, instead of writing them."""
    figures: list[Any] = []
    monkeypatch.setattr(plotting, "save", lambda fig, path: figures.append(fig))
    return figures


def _run(customrun_cli: Any, tmp_path: Path, **changes: Any) -> Path:
    config = tmp_path / "cfg.toml"
    cfg = tiny_config(
        work_dir=str(tmp_path / "work"), train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 3}
    )
    config.write_text(tomli_w.dumps({**cfg, **changes}), encoding="utf-8")
    result: CliResult = customrun_cli("train", str(config))
    assert result.exit_code == 0, result.stderr
    return tmp_path / "work"


def _records(work: Path, mode: str = "train") -> list[dict[str, Any]]:
    lines = (work / "scalars.jsonl").read_text(encoding="utf-8").splitlines()
    return [r for r in map(json.loads, lines) if r["mode"] == mode]


def _axes(fig: Any) -> dict[str, Any]:
    return {ax.get_title(): ax for ax in fig.axes}


def test_a_step_schedule_is_drawn_as_steps_on_a_log_axis_where_it_stepped(
    customrun_cli: Any, tmp_path: Path, drawn: list[Any]
) -> None:
    work = _run(customrun_cli, tmp_path, param_scheduler=STEPS)
    result = customrun_cli("plot", str(work))
    assert result.exit_code == 0, result.stderr
    axes = _axes(drawn[0])
    assert axes["lr"].get_yscale() == "log"  # 0.1 .. 1e-5: four decades
    assert axes["loss"].get_yscale() == "linear" and axes["accuracy/top1"].get_yscale() == "linear"
    [lr] = axes["lr"].lines
    train = _records(work)
    assert list(lr.get_xdata()) == [r["step"] for r in train]
    assert list(lr.get_ydata()) == [r["lr"] for r in train]
    assert lr.get_drawstyle() == "steps-pre"
    assert [line.get_drawstyle() for line in axes["loss"].lines] == ["default"]
    assert [line.get_drawstyle() for line in axes["accuracy/top1"].lines] == ["default"]
    # Where the drawn line drops: at the epoch boundaries (23 iterations an epoch, the last logged
    # step of epoch 1), as matplotlib draws steps-pre; a ramp (or steps-post) would drop later.
    per_epoch = max(r["step"] for r in train if r["epoch"] == 1)
    assert per_epoch == 23 and [r["step"] for r in train] == [10, 20, 23, 33, 43, 46, 56, 66, 69]
    x, y = cbook.STEP_LOOKUP_MAP["steps-pre"](lr.get_xdata(), lr.get_ydata())
    drops = sorted({float(a) for a, b, c in zip(x, y, np.roll(y, -1), strict=True) if c < b})
    assert drops == [23.0, 46.0]
    assert [r["lr"] for r in train] == pytest.approx([0.1] * 3 + [1e-3] * 3 + [1e-5] * 3)


def test_lr_within_two_decades_stays_linear_and_log_y_names_subplots(
    customrun_cli: Any, tmp_path: Path, drawn: list[Any]
) -> None:
    work = _run(customrun_cli, tmp_path, param_scheduler=[{**STEPS[0], "gamma": 0.5}])  # 0.1 .. 0.025
    assert customrun_cli("plot", str(work)).exit_code == 0
    assert {k: ax.get_yscale() for k, ax in _axes(drawn[-1]).items()} == {
        "loss": "linear",
        "lr": "linear",
        "accuracy/top1": "linear",
    }
    assert customrun_cli("plot", str(work), "--log-y", "loss").exit_code == 0
    assert {k: ax.get_yscale() for k, ax in _axes(drawn[-1]).items()} == {
        "loss": "log",
        "lr": "linear",
        "accuracy/top1": "linear",
    }
    assert customrun_cli("plot", str(work), "--log-y", "all").exit_code == 0
    assert {ax.get_yscale() for ax in drawn[-1].axes} == {"log"}
    result = customrun_cli("plot", str(work), "--log-y", "los")
    assert result.exit_code == 2
    assert result.stderr_lines == [
        "error: --log-y: 'los' is not one of the plotted keys: loss, lr, accuracy/top1 (did you mean 'loss'?)"
    ]


def test_a_value_held_over_logged_steps_is_drawn_as_steps_and_a_loss_is_not(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    records = [
        {"mode": "train", "step": s, "epoch": 1, "loss": 1 / s, "loss_scale": 2.0**16 if s < 40 else 2.0**15}
        for s in (10, 20, 30, 40, 50)
    ]
    (work / "scalars.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    [run] = [plotting.read_run(work)[0]]
    fig = plotting.curves_figure([run], ["loss", "loss_scale"])
    axes = _axes(fig)
    assert axes["loss_scale"].lines[0].get_drawstyle() == "steps-pre"
    assert axes["loss"].lines[0].get_drawstyle() == "default"
    assert list(axes["loss_scale"].lines[0].get_ydata()) == [r["loss_scale"] for r in records]
