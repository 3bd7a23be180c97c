"""``customrun test``."""

from __future__ import annotations

import json

import click

from customrun_core.cli.options import config_argument, plugin_switches, run_options, traced


@click.command()
@config_argument
@click.option(
    "--checkpoint",
    required=True,
    type=click.Path(dir_okay=False),
    help="Checkpoint whose weights to evaluate.",
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

    changes = {"work_dir": work_dir, "device": device, "load_from": checkpoint}
    runner = Runner.from_config(
        config_file, overrides, plugin_switches=plugin_switches(), trace_hooks=traced(trace_hooks), **changes
    )
    metrics = runner.test()
    click.echo(json.dumps(metrics))
