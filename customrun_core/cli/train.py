"""``customrun train``."""

from __future__ import annotations

import click

from customrun_core.cli.options import config_argument, plugin_switches, run_options, traced


@click.command()
@config_argument
@click.option(
    "--resume",
    is_flag=False,
    flag_value="auto",
    default=None,
    metavar="[CKPT]",
    help="Resume from CKPT, or without a value from the work directory's last checkpoint.",
)
@run_options
def train(
    config_file: str,
    overrides: tuple[str, ...],
    work_dir: str | None,
    device: str | None,
    resume: str | None,
    trace_hooks: str | None,
) -> None:
    """Train the model that CFG describes."""
    from customrun_core.runner import Runner

    changes = {"work_dir": work_dir, "device": device, "resume": True if resume == "auto" else resume}
    runner = Runner.from_config(
        config_file, overrides, plugin_switches=plugin_switches(), trace_hooks=traced(trace_hooks), **changes
    )
    runner.train()
