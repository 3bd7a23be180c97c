"""``customrun schedule --plot``: the image, and its lines against torch's own schedulers stepped
on the same settings."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from click.testing import CliRunner, Result

from customrun_core import plotting
from customrun_core.config import load_config
from customrun_core.dry_run import simulate_schedule

from .test_plot import assert_png, one_line_error

MODEL = {
    "type": "ClassifierModel",
    "backbone": {"type": "MLP", "in_features": 64, "hidden_features": [], "num_classes": 10},
}
WARMUP_THEN_STEPS = [
    {"type": "LinearLR", "start_factor": 0.25, "by_epoch": False, "end": 8},
    {"type": "MultiStepLR", "milestones": [2, 3], "gamma": 0.1},
]
EPOCH = 5  # --iters-per-epoch: no dataset is built


def write_config(tmp_path: Path, **changes: Any) -> Path:
    cfg: dict[str, Any] = {
        "model": MODEL,
        "train_dataloader": {"batch_size": 64, "dataset": {"type": "DigitsDataset", "split": "train"}},
        "train_cfg": {"type": "EpochBasedTrainLoop", "max_epochs": 4},
        "optim_wrapper": {
            "optimizer": {"type": "SGD", "lr": 0.1, "momentum": 0.9},
            "paramwise_cfg": {"bias_lr_mult": 2.0},
        },
        "param_scheduler": WARMUP_THEN_STEPS,
    }
    cfg.update(changes)
    path = tmp_path / "cfg.toml"
    path.write_text(tomli_w.dumps(cfg))
    return path


def schedule(*args: Any) -> Result:
    from customrun_core.cli import cli

    return CliRunner().invoke(cli, ["schedule", *map(str, args)], prog_name="customrun")


def figure_of(path: Path, **kwargs: Any) -> Any:
    return plotting.schedule_figure(simulate_schedule(load_config(path), EPOCH), **kwargs)


def torch_lrs(iterations: int) -> list[list[float]]:
    """The same schedule run by torch's schedulers: a linear warm-up stepped each iteration (torch
    counts the 7 steps of a warm-up MMEngine ends at 8), milestones stepped each epoch, on a
    weight group at lr 0.1 and a bias group at 0.2."""
    import torch

    params = [torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))]
    optimizer = torch.optim.SGD(
        [{"params": params[:1]}, {"params": params[1:], "lr": 0.2}], lr=0.1, momentum=0.9
    )
    warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.25, total_iters=7)
    steps = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[2, 3], gamma=0.1)
    lrs = []
    for i in range(iterations):
        lrs.append([group["lr"] for group in optimizer.param_groups])
        optimizer.step()
        warmup.step()
        if (i + 1) % EPOCH == 0:
            steps.step()
    return lrs


def test_png_has_size_times_dpi_and_the_command_says_where(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    result = schedule(
        path, "--iters-per-epoch", EPOCH, "--plot", tmp_path / "lr.png", "--size", "5,4", "--dpi", 40
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == f"wrote {tmp_path / 'lr.png'} (lr; 20 iterations)\n"  # no table
    assert_png(tmp_path / "lr.png", 200, 160)


def test_each_group_is_a_line_with_torchs_lr_at_each_iteration(tmp_path: Path) -> None:
    fig = figure_of(write_config(tmp_path))
    (ax,) = fig.axes
    assert ax.get_title() == "lr"
    assert [line.get_label() for line in ax.lines] == ["group 0", "group 1"]
    expected = torch_lrs(20)
    for g, line in enumerate(ax.lines):
        assert list(line.get_xdata()) == list(range(20))
        assert list(line.get_ydata()) == pytest.approx([row[g] for row in expected], rel=1e-12)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["group 0", "group 1"]


def test_epoch_boundaries_are_marked_and_said_so(tmp_path: Path) -> None:
    fig = figure_of(write_config(tmp_path), title="cfg.toml")
    (boundaries,) = fig.axes[0].collections
    assert [segment[0][0] for segment in boundaries.get_segments()] == [5, 10, 15]
    assert fig.get_suptitle() == "cfg.toml: 4 epochs of 5 iterations (dotted: epoch boundaries)"


def test_more_than_fifty_epochs_are_not_marked_and_the_title_says_so(tmp_path: Path) -> None:
    path = write_config(tmp_path, train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 51})
    fig = figure_of(path)
    assert len(fig.axes[0].collections) == 0
    assert fig.get_suptitle() == "51 epochs of 5 iterations (epoch boundaries not marked: more than 50)"
    fifty = figure_of(write_config(tmp_path, train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 50}))
    assert len(fifty.axes[0].collections[0].get_segments()) == 49


def test_one_subplot_per_scheduled_key_and_no_epochs_in_an_iteration_loop(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        train_cfg={"by_epoch": False, "max_iters": 12},
        optim_wrapper={"optimizer": {"type": "SGD", "lr": 0.1, "momentum": 0.9}},
        param_scheduler=[
            {"type": "ExponentialLR", "gamma": 0.9, "by_epoch": False},
            {"type": "ConstantMomentum", "factor": 0.5, "by_epoch": False, "end": 3},
        ],
    )
    fig = figure_of(path)
    assert [ax.get_title() for ax in fig.axes] == ["lr", "momentum"]
    assert list(fig.axes[0].lines[0].get_ydata()) == pytest.approx([0.1 * 0.9**i for i in range(12)])
    assert list(fig.axes[1].lines[0].get_ydata()) == pytest.approx([0.45] * 2 + [0.9] * 10)  # end 3: 2 steps
    assert all(
        len(ax.collections) == 0 and ax.get_legend() is None for ax in fig.axes
    )  # one group: no legend
    assert fig.get_suptitle() == "12 iterations (an iteration-based loop)"


def test_with_json_stdout_stays_json_and_the_image_line_goes_to_stderr(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    result = schedule(path, "--iters-per-epoch", EPOCH, "--json", "--plot", "out/lr.svg")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["max_iters"] == 20
    assert result.stderr == "wrote out/lr.svg (lr; 20 iterations)\n"
    assert (tmp_path / "out" / "lr.svg").read_text().lstrip().startswith("<?xml")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--dpi", "50"],
            "customrun schedule: error: --size and --dpi set the image of --plot, which is not given",
        ),
        (
            ["--size", "4,3"],
            "customrun schedule: error: --size and --dpi set the image of --plot, which is not given",
        ),
        (["--plot", "lr.jpq"], "error: --plot: expected a file name ending in"),
        (["--plot", "lr.png", "--size", "4x3"], "error: --size: expected W,H in inches"),
    ],
)
def test_bad_plot_options_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    assert one_line_error(schedule(write_config(tmp_path), "--iters-per-epoch", EPOCH, *args)).startswith(
        message
    )
    assert not (tmp_path / "lr.png").exists()


def test_no_schedulers_is_nothing_to_plot(tmp_path: Path) -> None:
    path = write_config(tmp_path, param_scheduler=[])
    assert schedule(path, "--iters-per-epoch", EPOCH).exit_code == 0  # the table says so
    assert one_line_error(schedule(path, "--iters-per-epoch", EPOCH, "--plot", "lr.png")) == (
        "error: nothing to plot: the config has no parameter schedulers"
    )


def test_without_matplotlib_one_line_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("matplotlib", "matplotlib.figure"):
        monkeypatch.setitem(sys.modules, name, None)
    result = schedule(write_config(tmp_path), "--iters-per-epoch", EPOCH, "--plot", "lr.png")
    assert one_line_error(result) == (
        "error: drawing needs matplotlib, which is not installed: pip install 'customrun-core[plot]'"
    )
