"""``customrun plot``: a run's curves from its ``scalars.jsonl``; several runs overlay."""

from __future__ import annotations

from pathlib import Path

import click

from customrun_core.cli import traceback_option
from customrun_core.cli.options import image_options

DEFAULT_OUTPUT = "curves.png"


def default_output(work_dirs: tuple[str, ...]) -> Path:
    """One run: ``WORK_DIR/curves.png``; several: ``curves.png`` here, since it belongs to none."""
    if len(work_dirs) > 1:
        return Path(DEFAULT_OUTPUT)
    first = Path(work_dirs[0])
    return (first if first.is_dir() else first.parent) / DEFAULT_OUTPUT


@click.command()
@click.argument("work_dirs", metavar="WORK_DIR...", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "--keys",
    metavar="K1,K2,...",
    help="The values to draw, one subplot each (default: every train loss, lr, and every val metric).",
)
@click.option(
    "--log-y",
    metavar="K1,K2,...|all",
    help="A log y axis for these subplots (or all). lr gets one by itself when its values span more "
    "than 2 decades (a warm-up from 1e-5, a decay to 1e-4 of the start). Values <= 0 are left out.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help=f"The image file (default: WORK_DIR/{DEFAULT_OUTPUT}, or ./{DEFAULT_OUTPUT} for several runs).",
)
@image_options
@traceback_option
def plot(
    work_dirs: tuple[str, ...],
    keys: str | None,
    log_y: str | None,
    output: str | None,
    size: str | None,
    dpi: int,
) -> None:
    """Draw the curves of the runs in WORK_DIR... (or their scalars.jsonl files), overlaid.

    One subplot per key, the step (finished iterations) on the x axis: train values as lines, val
    metrics as dashed lines with a marker at each validation, each run in its own colour with its
    directory name in the legend. lr (and any train value held over several logged steps) is drawn
    as steps, as the schedule held it. A line of scalars.jsonl that is not JSON (a run still writing)
    is skipped with a warning. Prints where the image went.
    """
    from customrun_core import plotting

    path = plotting.check_image_path(output or default_output(work_dirs), "--output")
    inches = plotting.parse_size(size) if size else None
    runs = []
    for work_dir, name in zip(work_dirs, plotting.run_names(work_dirs), strict=True):
        run, warnings = plotting.read_run(work_dir, name)
        for message in warnings:
            click.echo(f"warning: {message}", err=True)
        runs.append(run)
    chosen = plotting.choose_keys(keys, runs)
    plotting.save(plotting.curves_figure(runs, chosen, inches, dpi, log_y), path)
    count = f"{len(runs)} runs" if len(runs) > 1 else "1 run"
    click.echo(f"wrote {path} ({', '.join(chosen)}; {count})")
