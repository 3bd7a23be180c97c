"""``customrun plugins``: what is installed, read from metadata; nothing is imported."""

from __future__ import annotations

import json
from collections import defaultdict

import click

from customrun_core import registry
from customrun_core.cli import traceback_option

CORE = "customrun-core"


def plugin_rows(include_core: bool) -> list[dict[str, object]]:
    """One row per distribution: name, version, and what it provides by kind."""
    provides: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    versions: dict[str, str] = {}
    for kind, names in registry.scan_entry_points().items():
        for name, entries in names.items():
            for entry in entries:
                provides[entry.dist][kind].append(name)
                versions.setdefault(entry.dist, entry.version)
    rows = []
    for dist in sorted(provides, key=str.lower):
        if registry.normalize_dist(dist) == CORE and not include_core:
            continue
        rows.append(
            {
                "distribution": dist,
                "version": versions[dist],
                "builtin": registry.normalize_dist(dist) == CORE,
                "provides": {kind: sorted(names) for kind, names in sorted(provides[dist].items())},
            }
        )
    return rows


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for tools.")
@click.option("--all", "include_core", is_flag=True, help="Include customrun-core's own components.")
@traceback_option
def plugins(as_json: bool, include_core: bool) -> None:
    """List installed plugin distributions and what each provides (imports none of them)."""
    rows = plugin_rows(include_core)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("distribution", "version", "provides", box=None)
    for row in rows:
        provides = "; ".join(
            f"{registry.KINDS.get(k, k)}: {', '.join(v)}" for k, v in row["provides"].items()
        )  # type: ignore[union-attr]
        table.add_row(str(row["distribution"]), str(row["version"]), provides)
    console = Console()
    if rows:
        console.print(table)
    else:
        console.print("no customrun plugins installed (customrun plugins --all shows the built-ins)")
