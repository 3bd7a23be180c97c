"""``customrun schedule``: every scheduled value at every iteration, without training."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import click

from customrun_core.cli import traceback_option
from customrun_core.cli.options import (
    config_argument,
    image_options,
    plugin_options,
    plugin_switches,
    set_option,
)

MAX_ROWS = 40  # regular rows of the table; --json has every iteration


def shown_iterations(
    rows: list[list[float]], epoch_length: int, by_epoch: bool, limit: int = MAX_ROWS
) -> tuple[list[int], str | None]:
    """The iterations the table shows, and how they were picked (None when all are shown).

    A long run shows every ``k``-th iteration (``k`` rounded up to whole epochs once it is at least
    one epoch), the last one, and the iterations where a value starts changing after a steady
    stretch (a milestone, the start of a warm-up) or takes its last step of a ramp (the end of a
    warm-up), unless there are more of those than ``limit``.
    """
    total = len(rows)
    if total <= limit:
        return list(range(total)), None
    every = math.ceil(total / limit)
    if by_epoch and every >= epoch_length:
        every = math.ceil(every / epoch_length) * epoch_length
    regular = {*range(0, total, every), total - 1}
    changed = [i > 0 and rows[i] != rows[i - 1] for i in range(total)]
    starts = {i for i in range(1, total) if changed[i] and not changed[i - 1]}
    stops = {i - 1 for i in range(2, total) if not changed[i] and changed[i - 1] and changed[i - 2]}
    turns = starts | stops
    shown = sorted(regular | turns) if len(turns) <= limit else sorted(regular)
    how = (
        f"{len(shown)} of {total} iterations: one in every {every}, the last"
        + (", and those where a value starts or stops changing" if len(turns) <= limit else "")
        + "; --json lists every iteration"
    )
    return shown, how


def format_table(schedule: Any) -> str:
    """The group-0 value of every scheduled key at the shown iterations, as aligned text."""
    keys = list(schedule.values)
    if not keys or schedule.max_iters == 0:
        return "no parameter schedulers: every value stays as the optimizer sets it\n"
    rows = [[schedule.values[key][i][0] for key in keys] for i in range(schedule.max_iters)]
    shown, how = shown_iterations(rows, schedule.iters_per_epoch, schedule.by_epoch)
    header = ["iter", "epoch", *keys]
    lines = [header]
    for i in shown:
        epoch = i // schedule.iters_per_epoch if schedule.by_epoch else 0
        lines.append([str(i), str(epoch), *(f"{v:.6g}" for v in rows[i])])
    widths = [max(len(line[c]) for line in lines) for c in range(len(header))]
    text = "\n".join("  ".join(cell.rjust(w) for cell, w in zip(line, widths, strict=True)) for line in lines)
    groups = len(schedule.values[keys[0]][0])
    footer = []
    if how:
        footer.append(f"showing {how}")
    if groups > 1:
        footer.append(f"values of parameter group 0 of {groups}; --json has every group")
    if not schedule.by_epoch:
        footer.append("an iteration-based loop: the whole run is epoch 0")
    return text + "\n" + "".join(f"({line})\n" for line in footer)


@click.command()
@config_argument
@set_option
@click.option("--json", "as_json", is_flag=True, help="Print every value of every group as JSON.")
@click.option(
    "--iters-per-epoch",
    type=click.IntRange(min=1),
    metavar="N",
    help="The epoch length; without it the train dataset is built to measure its dataloader.",
)
@click.option(
    "--plot",
    "plot_file",
    type=click.Path(dir_okay=False),
    metavar="FILE.png",
    help="Draw every scheduled value over the run into this image instead of printing the table.",
)
@image_options
@plugin_options
@traceback_option
def schedule(
    config_file: str,
    overrides: tuple[str, ...],
    as_json: bool,
    iters_per_epoch: int | None,
    plot_file: str | None,
    size: str | None,
    dpi: int,
) -> None:
    """Every value the schedulers of CFG set (lr, momentum, ...) at every training iteration.

    The model, optimizer and schedulers are built and stepped as training would step them, with no
    training step. --json prints {"iters_per_epoch": E, "max_iters": N, "values": {"lr": [[group 0,
    group 1, ...] for each iteration], ...}}. --plot FILE.png draws one subplot per value, one line
    per parameter group, epoch boundaries dotted, and prints where it went (on stderr with --json).
    Warnings and notes go to stderr.
    """
    from customrun_core.config import load_config
    from customrun_core.dry_run import simulate_schedule

    image = _check_plot_options(plot_file, size, dpi)  # before the (slower) simulation
    result = simulate_schedule(load_config(config_file, overrides), iters_per_epoch, plugin_switches())
    for message in result.warnings:
        click.echo(f"warning: {message}", err=True)
    for message in result.notes:
        click.echo(f"note: {message}", err=True)
    if as_json:
        click.echo(json.dumps(result.to_json()))
    elif image is None:
        click.echo(format_table(result), nl=False)
    if image is not None:
        path, inches = image
        _draw(result, path, inches, dpi, Path(config_file).name)
        click.echo(f"wrote {path} ({', '.join(result.values)}; {result.max_iters} iterations)", err=as_json)


def _check_plot_options(
    plot_file: str | None, size: str | None, dpi: int
) -> tuple[Path, tuple[float, float] | None] | None:
    """The image file and size of --plot (None without it); --size and --dpi need --plot."""
    from customrun_core import plotting

    if plot_file is None:
        given = click.get_current_context().get_parameter_source("dpi") != click.core.ParameterSource.DEFAULT
        if size is not None or given:
            raise click.UsageError("--size and --dpi set the image of --plot, which is not given")
        return None
    path = plotting.check_image_path(plot_file, "--plot")
    inches = plotting.parse_size(size) if size else None
    if inches is not None:
        plotting.check_pixels(inches, dpi)  # a given size is checked before the simulation too
    return path, inches


def _draw(result: Any, path: Path, inches: tuple[float, float] | None, dpi: int, title: str) -> None:
    from customrun_core import plotting

    plotting.save(plotting.schedule_figure(result, inches, dpi, title=title), path)
