"""``customrun config``."""

from __future__ import annotations

import json

import click
import tomli_w

from customrun_core.cli import traceback_option
from customrun_core.cli.options import config_argument, set_option
from customrun_core.config import load_config


@click.command()
@config_argument
@set_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of TOML.")
@traceback_option
def config(config_file: str, overrides: tuple[str, ...], as_json: bool) -> None:
    """Print the config CFG resolves to, after extends and --set, with defaults filled in."""
    data = load_config(config_file, overrides).to_dict()
    click.echo(json.dumps(data, indent=2) if as_json else tomli_w.dumps(data), nl=False)
    if as_json:
        click.echo()
