"""``customrun test``."""

from __future__ import annotations

import json

import click

from customrun_core.cli.options import config_argument, plugin_switches, run_options, traced

BEST = "best"


@click.command()
@config_argument
@click.option(
    "--checkpoint",
    required=True,
    type=click.Path(dir_okay=False),
    help="Checkpoint whose weights to evaluate; 'best' for the work directory's best checkpoint "
    "(save_best), 'best:METRIC' when it kept several.",
)
@run_options
def test(
    config_file: str,
    checkpoint: str,
    overrides: tuple[str, ...],
    work_dir: str | None,
    device: str | None,
    trace_hooks: str | None,
) -> None:
    """Evaluate CHECKPOINT on the test data of CFG and print the metrics as JSON."""
    from customrun_core.runner import Runner

    changes = {"work_dir": work_dir, "device": device}
    if checkpoint == BEST or checkpoint.startswith(f"{BEST}:"):
        checkpoint = _best_checkpoint(config_file, overrides, changes, checkpoint)
    runner = Runner.from_config(
        config_file,
        overrides,
        plugin_switches=plugin_switches(),
        trace_hooks=traced(trace_hooks),
        load_from=checkpoint,
        **changes,
    )
    metrics = runner.test()
    click.echo(json.dumps(metrics))


def _best_checkpoint(
    config_file: str, overrides: tuple[str, ...], changes: dict[str, str | None], given: str
) -> str:
    """The path of the best checkpoint that ``best`` / ``best:METRIC`` names in the run's work
    directory (``--work-dir``, else the config's, else MMEngine's default), from its marker."""
    from pathlib import Path

    from customrun_core.config import load_config
    from customrun_core.config.schema import default_work_dir
    from customrun_core.hooks.best import find_best

    cfg = load_config(config_file, overrides, {k: v for k, v in changes.items() if v is not None})
    work_dir = Path(cfg.work_dir or default_work_dir(cfg.source))
    metric = given.partition(":")[2] or None
    return str(find_best(work_dir, metric))
