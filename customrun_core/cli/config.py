"""``customrun config``."""

from __future__ import annotations

import json

import click
import tomli_w

from customrun_core.cli import traceback_option
from customrun_core.cli.options import (
    config_argument,
    plugin_options,
    plugin_switches,
    set_option,
    work_dir_option,
)
from customrun_core.config import RunConfig, load_config


@click.command()
@config_argument
@set_option
@work_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of TOML.")
@click.option(
    "--check",
    is_flag=True,
    help="Run the checks train runs before building anything (every component resolved, its arguments "
    "checked) and print one ok line instead of the config; nothing is built or written. A mistake is one "
    "line and exit status 2, as from train.",
)
@plugin_options
@traceback_option
def config(
    config_file: str, overrides: tuple[str, ...], work_dir: str | None, as_json: bool, check: bool
) -> None:
    """Print the config CFG resolves to, after extends and --set, with defaults filled in; with
    --check, check it as train would instead."""
    cfg = load_config(config_file, overrides, {"work_dir": work_dir} if work_dir is not None else None)
    if check:
        preflight(cfg)
        click.echo(f"ok: {config_file}: every component resolves and its arguments check (nothing built)")
        return
    data = cfg.to_dict()
    click.echo(json.dumps(data, indent=2) if as_json else tomli_w.dumps(data), nl=False)
    if as_json:
        click.echo()


def preflight(cfg: RunConfig) -> None:
    """What the Runner runs on ``cfg`` before it builds anything (``assembly.prepare`` with the
    global plugins loaded, then ``assembly.check``), under the command's plugin switches."""
    from customrun_core import assembly
    from customrun_core.hooks.dispatch import HookDispatcher

    assembly.prepare(cfg, plugin_switches(), HookDispatcher())
    assembly.check(cfg)
