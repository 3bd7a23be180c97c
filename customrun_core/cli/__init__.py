"""The ``customrun`` command. Its subcommands are the ``customrun.commands`` entry points (the
core's own and any plugin's), each imported only when used, so ``customrun --help`` and
``customrun plugins`` import neither torch nor a plugin.

Plugin switches given before the subcommand (``customrun --disable-plugin customrun-foo ...``)
decide which plugins' commands are listed and can run, and apply to the subcommand as well."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import click

from customrun_core import __version__, registry
from customrun_core.cli.options import group_plugin_options
from customrun_core.cli.warning_lines import warnings_as_lines
from customrun_core.commands import CommandSlot, command_slots, load_command
from customrun_core.errors import CustomrunError, closest, did_you_mean
from customrun_core.plugin_policy import PluginPolicy

__all__ = ["cli", "main"]  # what a plugin may import (its tests invoke ``cli``)


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


# Newer click's own classes of usage error (absent from click 8.1: nothing is an instance of ()).
_NO_SUCH_COMMAND: Any = getattr(click.exceptions, "NoSuchCommand", ())  # click >= 8.4
_HELP_WITHOUT_ARGUMENTS: Any = getattr(click.exceptions, "NoArgsIsHelpError", ())  # click >= 8.2


class OneLineUsageError(click.UsageError):
    """A command-line mistake shown as one line, ``customrun train: error: no such option '--foo'
    (did you mean '--set'?)``, instead of click's usage block; exit status 2, as click's."""

    def __init__(self, error: click.UsageError, command_path: str) -> None:
        plain = isinstance(error, (click.NoSuchOption, _NO_SUCH_COMMAND))  # suggestions added below
        text = " ".join((error.message if plain else error.format_message()).split()).rstrip(".")
        text = text[:1].lower() + text[1:]  # click's messages are sentences
        text += did_you_mean(_close_names(error))
        super().__init__(f"{command_path}: error: {text}", error.ctx)

    def show(self, file: Any = None) -> None:
        click.echo(self.message, err=True, file=file)


def _close_names(error: click.UsageError) -> list[str]:
    """The options (commands) of the erring command closest to an unknown one."""
    ctx = error.ctx
    if isinstance(error, click.NoSuchOption) and ctx is not None:
        names = [name for param in ctx.command.params for name in param.opts + param.secondary_opts]
        return closest(error.option_name, [name for name in names if name.startswith("--")])
    if isinstance(error, _NO_SUCH_COMMAND) and ctx is not None:
        return closest(error.command_name, getattr(ctx.command, "list_commands", lambda _: [])(ctx))
    return []


@contextlib.contextmanager
def one_line_usage_errors(command_path: Any) -> Iterator[None]:
    """Turn click's usage errors raised inside into :class:`OneLineUsageError`. ``command_path``
    (a callable) names the command when the error carries no context of its own. A bare
    ``customrun`` still shows the help."""
    try:
        yield
    except (_HELP_WITHOUT_ARGUMENTS, OneLineUsageError):
        raise
    except click.UsageError as error:
        path = error.ctx.command_path if error.ctx is not None else command_path()
        raise OneLineUsageError(error, path) from None


class LazyGroup(click.Group):
    """The ``customrun.commands`` entry points as subcommands (see :mod:`customrun_core.commands`):
    listed from metadata, a command's module imported only when it runs or shows its help."""

    def _slots(self, ctx: click.Context) -> dict[str, CommandSlot]:
        slots = ctx.meta.get("customrun.commands")
        if slots is None:
            # The environment and ``customrun --disable-plugin X ...`` decide which plugins' commands
            # exist; the subcommand may activate a policy of its own (with its config) later.
            registry.set_policy(PluginPolicy.collect(**ctx.meta.get("customrun.plugin_switches", {})))
            slots = ctx.meta["customrun.commands"] = command_slots()
        return slots

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, slot in self._slots(ctx).items() if slot.listed]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        slot = self._slots(ctx).get(cmd_name)
        if slot is None:
            return None  # click's "no such command", made one line (with suggestions) by invoke
        return load_command(slot.entry())

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, slot.summary) for name, slot in self._slots(ctx).items() if slot.listed]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        with one_line_usage_errors(lambda: info_name or self.name or "customrun"):
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        def command_path() -> str:
            return " ".join(filter(None, [ctx.command_path, ctx.invoked_subcommand]))

        try:
            with one_line_usage_errors(command_path), warnings_as_lines():  # one warning format for all
                return super().invoke(ctx)
        except CustomrunError as error:
            if ctx.meta.get("customrun.traceback"):
                raise
            click.echo(f"error: {error}", err=True)
            ctx.exit(error.exit_code)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="customrun")
@group_plugin_options
@traceback_option
def cli() -> None:
    """customrun: train PyTorch models from a TOML config, extended by installed plugins."""


def main() -> None:
    cli(prog_name="customrun")
