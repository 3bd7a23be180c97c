"""``customrun plugins``: what is installed, read from metadata; nothing is imported (but with
``--hooks``, which loads the hook plugins to show the order their hooks run in).

A distribution's commands (group ``customrun.commands``) are listed with its other entry points;
a command ``customrun`` will not run (hidden by the core's of that name, or claimed by two plugins)
gets a note, which ``--json`` gives as the row's ``notes``."""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
from pathlib import Path

import click
import importlib_metadata

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
                click.echo(requirement_line(str(row["distribution"]), str(row["version"])))
        return
    if show_hooks:
        click.echo(_hook_order(as_json))
        return
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    labels = {**registry.KINDS, "commands": "command"}
    table = [
        [
            str(row["distribution"]),
            str(row["version"]),
            str(row["status"]),
            "; ".join(f"{labels.get(k, k)}: {', '.join(v)}" for k, v in row["provides"].items()),
            *(f"note: {note}" for note in row["notes"]),
        ]
        for row in rows
    ]
    if not rows:
        click.echo("no customrun plugins installed (customrun plugins --all shows the built-ins)")
        return
    text = _plain(table)
    width = shutil.get_terminal_size().columns  # COLUMNS, else the terminal's, else 80
    if sys.stdout.isatty() and max(len(line) for line in text.splitlines()) > width:
        text = _blocks(table, width)
    click.echo(text, nl=False)  # not a terminal: whole names on whole lines, for grep and people


COLUMNS = ("distribution", "version", "status", "provides")


def _plain(table: list[list[str]]) -> str:
    """The rows as text: the first columns padded to their widths, ``provides`` and each note to
    the end of its line, nothing cut and nothing wrapped."""
    widths = [max(len(cells[i]) for cells in [list(COLUMNS), *table]) for i in range(len(COLUMNS) - 1)]
    indent = " " * (sum(widths) + 2 * len(widths))

    def line(cells: list[str]) -> str:
        return "".join(f"{cell:<{width}}  " for cell, width in zip(cells, widths, strict=False)) + cells[-1]

    lines = [line(list(COLUMNS))]
    for cells in table:
        lines.append(line(cells[: len(COLUMNS)]))
        lines += [indent + note for note in cells[len(COLUMNS) :]]
    return "".join(text.rstrip() + "\n" for text in lines)


def _blocks(table: list[list[str]], width: int) -> str:
    """The rows for a terminal too narrow for the table: one block per distribution, what it
    provides wrapped between names (a name is never broken or cut)."""
    lines = []
    for dist, version, status, provides, *notes in table:
        lines += textwrap.wrap(
            f"{dist} {version}  {status}", width, subsequent_indent="  ", break_on_hyphens=False
        )
        for part in [*provides.split("; "), *notes]:
            lines += textwrap.wrap(
                part,
                width,
                initial_indent="  ",
                subsequent_indent="    ",
                break_long_words=False,
                break_on_hyphens=False,
            )
    return "".join(line + "\n" for line in lines)


def requirement_line(dist: str, version: str) -> str:
    """The pip requirements-file line that installs ``dist`` as it is installed here, from how it
    was installed (PEP 610's ``direct_url.json``): ``-e PATH`` for an editable install, ``NAME @
    URL`` for a local directory or an archive, ``NAME @ VCS+URL@COMMIT`` for a version-control
    checkout, each with a comment naming the distribution; ``NAME==VERSION`` for one from an index."""
    try:
        text = importlib_metadata.distribution(dist).read_text("direct_url.json")
        direct = json.loads(text) if text else None
    except (importlib_metadata.PackageNotFoundError, ValueError):
        direct = None
    if not isinstance(direct, dict) or not isinstance(direct.get("url"), str):
        return f"{dist}=={version}"
    url: str = direct["url"]
    subdirectory = direct.get("subdirectory")
    fragment = f"#subdirectory={subdirectory}" if subdirectory else ""
    vcs = direct.get("vcs_info")
    if isinstance(vcs, dict):
        commit = vcs.get("commit_id") or vcs.get("requested_revision")
        pinned = f"{vcs.get('vcs', 'git')}+{url}" + (f"@{commit}" if commit else "")
        return f"{dist} @ {pinned}{fragment}  # {dist} {version} ({vcs.get('vcs', 'vcs')} checkout)"
    if (direct.get("dir_info") or {}).get("editable"):
        target = _local_path(url) if url.startswith("file:") else url
        if subdirectory:
            target = str(Path(target) / subdirectory)
        return f"-e {target}  # {dist} {version} (editable)"
    what = "local directory" if "dir_info" in direct else "archive"
    return f"{dist} @ {url}{fragment}  # {dist} {version} ({what})"


def _local_path(url: str) -> str:
    """The path a ``file:`` URL names."""
    from urllib.parse import urlsplit
    from urllib.request import url2pathname

    return url2pathname(urlsplit(url).path)


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
