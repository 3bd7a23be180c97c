"""``customrun plugins``: what is installed, read from metadata; nothing is imported (but with
``--hooks``, which loads the hook plugins to show the order their hooks run in).

A distribution's commands (group ``customrun.commands``) are listed with its other entry points;
a command ``customrun`` will not run (hidden by the core's of that name, or claimed by two plugins)
gets a note, which ``--json`` gives as the row's ``notes``."""

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
@click.option(
    "--requirements",
    is_flag=True,
    help="Print pip requirement lines that reproduce the installed plugin set.",
)
@click.option(
    "--hooks",
    "show_hooks",
    is_flag=True,
    help="Load the default hooks and the hook plugins and print each hook point's call order.",
)
@traceback_option
def plugins(as_json: bool, include_core: bool, requirements: bool, show_hooks: bool) -> None:
    """List installed plugin distributions and what each provides (imports none of them)."""
    from customrun_core.plugin_policy import PluginPolicy

    registry.set_policy(PluginPolicy.collect(**plugin_switches()))
    rows = plugin_rows(include_core)
    if requirements:
        for row in rows:
            if not row["builtin"] and not str(row["status"]).startswith("disabled"):
                click.echo(f"{row['distribution']}=={row['version']}")
        return
    if show_hooks:
        click.echo(_hook_order(as_json))
        return
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("distribution", "version", "status", "provides", box=None)
    labels = {**registry.KINDS, "commands": "command"}
    for row in rows:
        provides = "; ".join(f"{labels.get(k, k)}: {', '.join(v)}" for k, v in row["provides"].items())
        provides = "\n".join([provides, *(f"note: {note}" for note in row["notes"])])
        table.add_row(str(row["distribution"]), str(row["version"]), str(row["status"]), provides)
    console = Console()
    if rows:
        console.print(table)
    else:
        console.print("no customrun plugins installed (customrun plugins --all shows the built-ins)")


def _hook_order(as_json: bool) -> str:
    """The default hooks plus every enabled ``customrun.plugins`` hook plugin, in call order."""
    from customrun_core import plugins as plugin_loading
    from customrun_core.hooks.defaults import DEFAULT_HOOKS, build_hook
    from customrun_core.hooks.dispatch import HookDispatcher

    manager = HookDispatcher()
    for key, type_name in DEFAULT_HOOKS.items():
        built = build_hook({"type": type_name}, f"default_hooks.{key}")
        if built is not None:  # None: not wanted here (the progress bar outside a terminal)
            manager.add(*built)
    plugin_loading.load_plugins(manager)
    order = manager.order()
    if as_json:
        return json.dumps(
            {point: [{"name": n, "priority": p} for n, p in impls] for point, impls in order.items()},
            indent=2,
        )
    return manager.format_order()
