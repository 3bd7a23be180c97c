"""``customrun plugins``: what is installed, read from metadata; nothing is imported."""

from __future__ import annotations

import json

import click

from customrun_core import registry
from customrun_core.cli import traceback_option
from customrun_core.cli.options import plugin_options, plugin_switches
from customrun_core.plugin_listing import plugin_rows


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for tools.")
@plugin_options
@click.option("--all", "include_core", is_flag=True, help="Include customrun-core's own components.")
@traceback_option
def plugins(as_json: bool, include_core: bool) -> None:
    """List installed plugin distributions and what each provides (imports none of them)."""
    from customrun_core.plugin_policy import PluginPolicy

    registry.set_policy(PluginPolicy.collect(**plugin_switches()))
    rows = plugin_rows(include_core)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("distribution", "version", "status", "provides", box=None)
    for row in rows:
        provides = "; ".join(
            f"{registry.KINDS.get(k, k)}: {', '.join(v)}" for k, v in row["provides"].items()
        )  # type: ignore[union-attr]
        table.add_row(str(row["distribution"]), str(row["version"]), str(row["status"]), provides)
    console = Console()
    if rows:
        console.print(table)
    else:
        console.print("no customrun plugins installed (customrun plugins --all shows the built-ins)")
