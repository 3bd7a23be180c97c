"""The ``customrun`` command. Each subcommand lives in its own module, imported only when used,
so ``customrun --help`` and ``customrun plugins`` never import torch."""

from __future__ import annotations

import importlib
from typing import Any

import click

from customrun_core import __version__
from customrun_core.errors import CustomrunError

SUBCOMMANDS = {
    "train": "customrun_core.cli.train:train",
    "test": "customrun_core.cli.test:test",
    "config": "customrun_core.cli.config:config",
    "plugins": "customrun_core.cli.plugins:plugins",
    "schedule": "customrun_core.cli.schedule:schedule",
    "param-groups": "customrun_core.cli.param_groups:param_groups",
    "new-plugin": "customrun_core.cli.new_plugin:new_plugin",
}


def _set_traceback(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta["customrun.traceback"] = True


traceback_option = click.option(
    "--traceback",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    envvar="CUSTOMRUN_TRACEBACK",
    callback=_set_traceback,
    help="Show the full traceback of an error instead of one line.",
)


class LazyGroup(click.Group):
    """Imports a subcommand's module only when that subcommand runs (or its help is shown)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, _SUMMARIES[name]) for name in SUBCOMMANDS]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CustomrunError as error:
            if ctx.meta.get("customrun.traceback"):
                raise
            click.echo(f"error: {error}", err=True)
            ctx.exit(2)


# Kept here so that listing commands imports none of them.
_SUMMARIES = {
    "train": "Train a model from a TOML config.",
    "test": "Evaluate a checkpoint on the config's test data.",
    "config": "Print the resolved config (after extends and --set).",
    "plugins": "List installed customrun plugins (imports none of them).",
    "schedule": "Every scheduled value (lr, momentum, ...) at every iteration, without training.",
    "param-groups": "Each trainable parameter's group: lr, weight decay and extra flags.",
    "new-plugin": "Write a ready plugin distribution customrun-NAME (component, entry point, test).",
}


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="customrun")
@traceback_option
def cli() -> None:
    """customrun: train PyTorch models from a TOML config, extended by installed plugins."""


def main() -> None:
    cli(prog_name="customrun")
