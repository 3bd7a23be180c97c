"""``customrun convert OLD.py [-o cfg.toml] [--strict]``: an MMEngine Python config as TOML."""

from __future__ import annotations

from pathlib import Path

import click

from customrun_core.cli import traceback_option
from customrun_core.errors import ConfigError


@click.command()
@click.argument("source", metavar="OLD.py", type=click.Path(dir_okay=False))
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="Write the TOML here (default: standard output)."
)
@click.option(
    "--strict",
    is_flag=True,
    help="Anything reported (left out, or kept with a caveat) is a failure: exit status 1, nothing written.",
)
@traceback_option
def convert(source: str, output: str | None, strict: bool) -> None:
    """Turn an MMEngine Python config into customrun TOML, without executing it.

    The file is parsed, never run; its _base_ files are merged as MMEngine merges them. What has
    no customrun twin (a lambda, an unknown call, visualizer, a type customrun cannot resolve) is
    reported on stderr, one line per key path, and left out. Exit status: 0 when the TOML was
    written, 1 under --strict when something was reported, 2 for a file that cannot be read.
    """
    from customrun_core.convert import convert_file, to_toml

    target = Path(output) if output else None
    if target is not None:
        if target.resolve() == Path(source).resolve():
            raise ConfigError("the output would overwrite the Python config", file=output)
        if not target.parent.is_dir():
            raise ConfigError(f"no such directory {str(target.parent)!r}", file=output)
    # customrun imports custom_imports modules from the TOML file's directory: look there too
    conversion = convert_file(source, module_dirs=[target.resolve().parent] if target is not None else [])
    for report in conversion.reports:
        click.echo(report.render(), err=True)
    if strict and conversion.reports:
        count = len(conversion.reports)
        click.echo(
            f"{source}: {count} key path{'s' * (count != 1)} not translated (--strict): nothing written",
            err=True,
        )
        raise click.exceptions.Exit(1)
    text = to_toml(conversion.data, source)
    if target is None:
        click.echo(text, nl=False)
    else:
        target.write_text(text, encoding="utf-8")
