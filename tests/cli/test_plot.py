"""``customrun plot``: the image's size and content, the plotted data against scalars.jsonl as
written by hand (and by a real run), and the mistakes a user makes."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result

from customrun_core import plotting
from customrun_core.cli import cli

RECORDS = [
    {"mode": "train", "step": 10, "epoch": 1, "lr": 0.1, "loss": 2.0, "time": 0.5, "grad_norm": 3.0},
    {"mode": "train", "step": 20, "epoch": 1, "lr": 0.1, "loss": 1.5, "time": 0.4, "grad_norm": None},
    {"mode": "val", "step": 20, "epoch": 1, "accuracy/top1": 60.0},
    {"mode": "train", "step": 30, "epoch": 2, "lr": 0.01, "loss": None, "time": 0.4, "grad_norm": 1.0},
    {"mode": "train", "step": 40, "epoch": 2, "lr": 0.01, "loss": 0.5, "time": 0.4, "grad_norm": 1.0},
    {"mode": "val", "step": 40, "epoch": 2, "accuracy/top1": 80.0},
    {"mode": "test", "step": 40, "epoch": 2, "accuracy/top1": 79.0},
]


def write_run(directory: Path, records: list[dict[str, Any]] = RECORDS, tail: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r) + "\n" for r in records) + tail
    (directory / "scalars.jsonl").write_text(text, encoding="utf-8")
    return directory


def plot(*args: Any) -> Result:
    return CliRunner().invoke(cli, ["plot", *map(str, args)], prog_name="customrun")


def figure_of(*directories: Path, keys: str | None = None) -> Any:
    runs = [
        plotting.read_run(d, name)[0]
        for d, name in zip(directories, plotting.run_names(directories), strict=True)
    ]
    return plotting.curves_figure(runs, plotting.choose_keys(keys, runs))


def lines(ax: Any) -> list[tuple[str, list[float], list[float]]]:
    return [(line.get_label(), list(line.get_xdata()), list(line.get_ydata())) for line in ax.lines]


def same(a: list[float], b: list[float]) -> bool:
    """Equal lists where NaN equals NaN (null in the file is a gap in the line)."""
    return len(a) == len(b) and all(
        x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b, strict=True)
    )


def assert_png(path: Path, width: int, height: int) -> None:
    """The file is a PNG of this many pixels, with drawing on it: many colours, not all background."""
    import matplotlib.image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[:2] == (height, width)
    colours = np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)
    assert len(colours) > 50  # lines, text and anti-aliasing; a blank image has one
    not_white = np.any(pixels[..., :3] < 0.9, axis=-1).mean()
    assert 0.01 < not_white < 0.5


def test_png_is_written_in_the_work_dir_at_size_times_dpi(tmp_path: Path) -> None:
    work = write_run(tmp_path / "work")
    result = plot(work, "--size", "4,3", "--dpi", 50)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"wrote {work / 'curves.png'} (loss, lr, accuracy/top1; 1 run)\n"
    assert result.stderr == ""
    assert_png(work / "curves.png", 200, 150)


def test_output_option_and_default_size(tmp_path: Path) -> None:
    work = write_run(tmp_path / "work")
    result = plot(work, "-o", tmp_path / "figs" / "run.png")  # the folder is created
    assert result.exit_code == 0, result.output
    assert_png(tmp_path / "figs" / "run.png", 800, 750)  # 8 x 2.5 inches a row, 3 rows, 100 dpi


def test_default_keys_are_losses_lr_and_val_metrics_with_the_files_values(tmp_path: Path) -> None:
    fig = figure_of(write_run(tmp_path / "work"))
    assert [ax.get_title() for ax in fig.axes] == ["loss", "lr", "accuracy/top1"]
    loss, lr, accuracy = (lines(ax) for ax in fig.axes)
    assert loss[0][0] == "train" and loss[0][1] == [10, 20, 30, 40]
    assert same(loss[0][2], [2.0, 1.5, math.nan, 0.5])  # null: a gap, not a crash
    assert lr == [("train", [10, 20, 30, 40], [0.1, 0.1, 0.01, 0.01])]
    assert accuracy == [("val", [20, 40], [60.0, 80.0])]  # at the validation steps; test is left out
    assert fig.axes[2].lines[0].get_marker() == "o"


def test_keys_choose_the_subplots_and_their_order(tmp_path: Path) -> None:
    fig = figure_of(write_run(tmp_path / "work"), keys="grad_norm, time,grad_norm")
    assert [ax.get_title() for ax in fig.axes] == ["grad_norm", "time"]
    assert same(lines(fig.axes[0])[0][2], [3.0, math.nan, 1.0, 1.0])
    assert lines(fig.axes[1])[0][2] == [0.5, 0.4, 0.4, 0.4]


def test_a_key_logged_in_train_and_val_is_one_subplot_with_two_lines(tmp_path: Path) -> None:
    records = [
        {"mode": "train", "step": 5, "epoch": 1, "loss": 1.0},
        {"mode": "val", "step": 5, "epoch": 1, "loss": 1.25},
        {"mode": "train", "step": 10, "epoch": 2, "loss": 0.5},
        {"mode": "val", "step": 10, "epoch": 2, "loss": 0.75},
    ]
    fig = figure_of(write_run(tmp_path / "work", records))
    assert [ax.get_title() for ax in fig.axes] == ["loss"]
    assert lines(fig.axes[0]) == [("train", [5, 10], [1.0, 0.5]), ("val", [5, 10], [1.25, 0.75])]
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["train", "val"]


def test_several_runs_overlay_with_their_directory_names(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a")
    b = write_run(tmp_path / "b", [{**r, "loss": 1.0} for r in RECORDS if r["mode"] == "train"])
    fig = figure_of(a, b)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "lr", "accuracy/top1"]
    assert [label for label, _, _ in lines(fig.axes[0])] == ["a", "b"]
    assert lines(fig.axes[0])[1][2] == [1.0] * 4
    assert fig.axes[0].lines[0].get_color() != fig.axes[0].lines[1].get_color()
    assert [label for label, _, _ in lines(fig.axes[2])] == ["a"]  # b has no validation

    result = plot(a, b, "--dpi", 20)  # several runs: the image goes to the current directory
    assert result.exit_code == 0, result.output
    assert result.stdout == "wrote curves.png (loss, lr, accuracy/top1; 2 runs)\n"
    assert_png(tmp_path / "curves.png", 160, 150)


def test_runs_with_the_same_directory_name_are_labelled_by_path(tmp_path: Path) -> None:
    first, second = write_run(tmp_path / "x" / "work"), write_run(tmp_path / "y" / "work")
    assert plotting.run_names([first, second]) == [str(first), str(second)]
    assert plotting.run_names([first, first / "scalars.jsonl"]) == [
        str(first),
        str(first / "scalars.jsonl"),
    ]
    assert plotting.run_names([tmp_path / "x" / "work" / "scalars.jsonl"]) == ["work"]


def test_a_resumed_run_relogging_steps_keeps_the_later_values(tmp_path: Path) -> None:
    records = [{"mode": "train", "step": s, "epoch": 1, "loss": float(s)} for s in (1, 2, 3)]
    records += [{"mode": "train", "step": s, "epoch": 1, "loss": -float(s)} for s in (3, 4)]
    fig = figure_of(write_run(tmp_path / "work", records))
    assert lines(fig.axes[0]) == [("train", [1, 2, 3, 4], [1.0, 2.0, -3.0, -4.0])]


def test_a_half_written_last_line_is_skipped_with_a_warning(tmp_path: Path) -> None:
    work = write_run(tmp_path / "work", tail='{"mode": "train", "step": 50, "lo')
    result = plot(work, "--keys", "loss", "--dpi", 20)
    assert result.exit_code == 0, result.output
    source = work / "scalars.jsonl"
    assert result.stderr == (
        f"warning: {source}:8: not a JSON record with a step (a run still writing?), skipped\n"
    )
    run, _ = plotting.read_run(work)
    assert run.series[("train", "loss")][0] == [10, 20, 30, 40]


def test_the_plot_of_a_real_run_has_its_logged_values(customrun_run: Any) -> None:
    from customrun_core.testing import tiny_config

    result = customrun_run(tiny_config())  # one epoch of 23 iterations, logged every 10
    records = [json.loads(line) for line in (result.work_dir / "scalars.jsonl").read_text().splitlines()]
    fig = figure_of(result.work_dir)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "lr", "accuracy/top1"]
    train = [r for r in records if r["mode"] == "train"]
    val = [r for r in records if r["mode"] == "val"]
    assert [r["step"] for r in train] == [10, 20, 23]
    assert lines(fig.axes[0]) == [("train", [10, 20, 23], [r["loss"] for r in train])]
    assert lines(fig.axes[2]) == [("val", [23], [r["accuracy/top1"] for r in val])]


def one_line_error(result: Result) -> str:
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    return result.stderr.rstrip("\n")


def test_an_unknown_key_names_the_closest_logged_keys(tmp_path: Path) -> None:
    work = write_run(tmp_path / "work")
    assert one_line_error(plot(work, "--keys", "loss,acuracy/top1")) == (
        f"error: --keys: no key 'acuracy/top1' in {work / 'scalars.jsonl'}; available: lr, loss, time, "
        "grad_norm, accuracy/top1 (did you mean 'accuracy/top1'?)"
    )
    assert one_line_error(plot(work, work, "--keys", "los")).endswith(
        "no key 'los' in any of the 2 runs; available: lr, loss, time, grad_norm, accuracy/top1 "
        "(did you mean 'loss'?)"
    )
    assert one_line_error(plot(work, "--keys", " , ")).startswith(
        "error: --keys: expected comma-separated keys"
    )


def test_a_directory_without_scalars_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert one_line_error(plot(tmp_path / "empty")) == (
        f"error: {tmp_path / 'empty'}: no scalars.jsonl (expected the work directory of a run, "
        "where LoggerHook writes it)"
    )
    assert one_line_error(plot(tmp_path / "missing")) == (
        f"customrun plot: error: invalid value for 'WORK_DIR...': Path '{tmp_path / 'missing'}' does not exist"
    )


@pytest.mark.parametrize("text", ["", "\n\n", "not json\n"])
def test_an_empty_scalars_file_is_one_line(tmp_path: Path, text: str) -> None:
    (tmp_path / "scalars.jsonl").write_text(text)
    assert one_line_error(plot(tmp_path)).endswith(
        f"{tmp_path / 'scalars.jsonl'}: no train or val values in it yet"
    )


def test_only_times_logged_asks_for_keys(tmp_path: Path) -> None:
    work = write_run(tmp_path / "work", [{"mode": "train", "step": 1, "epoch": 1, "time": 0.1}])
    assert one_line_error(plot(work)) == (
        "error: --keys: no loss, lr or val metric to draw by default; choose from time"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--size", "4"], "error: --size: expected W,H in inches (two positive numbers, e.g. 8,6), got '4'"),
        (["--size", "4,-3"], "error: --size: expected W,H in inches (two positive numbers, e.g. 8,6), got '4,-3'"),
        (["--size", "700,1", "--dpi", "100"], "error: --size: expected an image under 65536 pixels a side, "
         "got 70000x100 (700x1 inches at 100 dpi)"),
        (["--dpi", "0"], "customrun plot: error: invalid value for '--dpi': 0 is not in the range x>=1"),
    ],
)  # fmt: skip
def test_a_bad_size_is_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    assert one_line_error(plot(write_run(tmp_path / "work"), *args)) == message


def test_an_unknown_image_format_suggests_the_closest(tmp_path: Path) -> None:
    work = write_run(tmp_path / "work")
    line = one_line_error(plot(work, "-o", "curves.pgn"))
    assert line.startswith("error: --output: expected a file name ending in .")
    assert (
        ".png" in line
        and ".svg" in line
        and line.endswith("(did you mean 'curves.png' or 'curves.pgf' or 'curves.jpg'?)")
    )
    assert one_line_error(plot(work, "-o", "curves")).endswith("got 'curves' (did you mean 'curves.png'?)")
    assert not (work / "curves.png").exists()


def test_without_matplotlib_one_line_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("matplotlib", "matplotlib.figure"):
        monkeypatch.setitem(sys.modules, name, None)  # import raises ImportError
    assert one_line_error(plot(write_run(tmp_path / "work"))) == (
        "error: drawing needs matplotlib, which is not installed: pip install 'customrun-core[plot]'"
    )
