"""``customrun test``."""

from __future__ import annotations

import json

import click

from customrun_core.cli import traceback_option
from customrun_core.cli.options import (
    config_argument,
    device_option,
    plugin_options,
    plugin_switches,
    set_option,
    trace_hooks_option,
    work_dir_option,
)


@click.command()
@config_argument
@click.option(
    "--checkpoint",
    required=True,
    type=click.Path(dir_okay=False),
    help="Checkpoint whose weights to evaluate.",
)
@set_option
@work_dir_option
@device_option
@plugin_options
@trace_hooks_option
@traceback_option
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

    runner = Runner.from_config(
        config_file,
        overrides,
        work_dir=work_dir,
        device=device,
        load_from=checkpoint,
        plugin_switches=plugin_switches(),
        trace_hooks=trace_hooks,
    )
    metrics = runner.test()
    click.echo(json.dumps(metrics))
