"""``customrun param-groups``: each trainable parameter's optimizer group, without training."""

from __future__ import annotations

import json
from typing import Any

import click

from customrun_core.cli import traceback_option
from customrun_core.cli.options import config_argument, plugin_options, plugin_switches, set_option


@click.command(name="param-groups")
@config_argument
@set_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON for tools.")
@plugin_options
@traceback_option
def param_groups(config_file: str, overrides: tuple[str, ...], as_json: bool) -> None:
    """Print every trainable parameter of CFG's model with its optimizer group: lr, weight decay and
    the group's other entries (lr_mult, decay_mult, lars_exclude, ...).

    Only the model and the optimizer are built: no data is read, nothing is trained or written.
    """
    report = collect(config_file, overrides)  # its warnings: one line each (cli.warning_lines)
    if as_json:
        click.echo(json.dumps({k: v for k, v in report.items() if k != "frozen"}, indent=2, default=str))
    else:
        print_table(report)


def collect(config_file: str, overrides: tuple[str, ...]) -> dict[str, Any]:
    """``{"parameters": [...], "unmatched_custom_keys": [...], "frozen": N}`` for a config."""
    from customrun_core.config import load_config
    from customrun_core.dry_run import parameter_groups

    return parameter_groups(load_config(config_file, overrides), plugin_switches())


def print_table(report: dict[str, Any]) -> None:
    """The report as a compact table, with what it leaves out said below it."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None)
    table.add_column("parameter", overflow="fold")  # a long name wraps; it is never cut short
    for header in ("shape", "group", "lr", "weight_decay", "extra"):
        table.add_column(header)
    for row in report["parameters"]:
        group = "-" if row["group"] is None else str(row["group"])
        if "optimizer" in row:
            group = f"{row['optimizer']}/{group}"
        extra = ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in row["extra"].items())
        cells = [row["name"], "x".join(map(str, row["shape"])) or "scalar", group]
        cells += [_number(row["lr"]), _number(row["weight_decay"]), extra]
        table.add_row(*(Text(cell) for cell in cells))
    console = Console()
    if not console.is_terminal:  # piped or captured: as wide as the table needs, one line per parameter
        console.width = max(
            console.width, console.measure(table, options=console.options.update_width(10**4)).maximum
        )
    console.print(table)
    if report["unmatched_custom_keys"]:
        keys = ", ".join(repr(k) for k in report["unmatched_custom_keys"])
        console.print(Text(f"custom keys that set no parameter: {keys}"))
    if report["frozen"]:
        console.print(Text(f"{report['frozen']} frozen parameter(s) (requires_grad = false) not shown"))


def _number(value: Any) -> str:
    return "-" if value is None else f"{value:.6g}" if isinstance(value, float) else str(value)
