"""Options several subcommands share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

config_argument = click.argument("config_file", metavar="CFG", type=click.Path(dir_okay=False))
set_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY.PATH=VALUE",
    help="Override a config value (TOML value syntax; repeatable), e.g. --set train_cfg.max_epochs=3.",
)
work_dir_option = click.option(
    "--work-dir", type=click.Path(file_okay=False), help="Where logs and checkpoints go."
)
device_option = click.option("--device", help="auto, cpu, cuda or cuda:N (overrides the config's device).")


def plugin_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--plugin``, ``--disable-plugin`` and ``--disable-plugin-autoload``, passed to the command as
    one ``plugin_switches`` mapping (the keyword arguments of ``PluginPolicy.collect``)."""
    return _with_plugin_options(command, eager=False)


def group_plugin_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The plugin options of ``customrun`` itself (``customrun --disable-plugin X CMD``): eager, so
    that ``--help`` after them lists only the commands of enabled plugins; the subcommand's own
    switches add to them."""
    return _with_plugin_options(command, eager=True)


def _with_plugin_options(command: Callable[..., Any], eager: bool) -> Callable[..., Any]:
    def collect(ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        # ctx.meta is shared with the parent context: the group's switches and the subcommand's add up
        switches = ctx.meta.setdefault("customrun.plugin_switches", {})
        earlier = switches.get(_param.name)
        if isinstance(value, tuple):
            switches[_param.name] = (*(earlier or ()), *value)
        else:
            switches[_param.name] = bool(earlier) or value
        return value

    shared: dict[str, Any] = {"expose_value": False, "callback": collect, "is_eager": eager}
    decorators = [
        click.option("--plugin", "cli_enable", multiple=True, metavar="NAME", **shared,
                     help="Enable a plugin (distribution or entry-point name) even when it is disabled elsewhere."),
        click.option("--disable-plugin", "cli_disable", multiple=True, metavar="NAME", **shared,
                     help="Disable a plugin (repeatable)."),
        click.option("--disable-plugin-autoload", "cli_no_autoload", is_flag=True, **shared,
                     help="Load only plugins enabled by name (--plugin, CUSTOMRUN_PLUGINS)."),
    ]  # fmt: skip
    for decorator in reversed(decorators):
        command = decorator(command)
    return command


def plugin_switches() -> dict[str, Any]:
    """The plugin options of the command being run."""
    return dict(click.get_current_context().meta.get("customrun.plugin_switches", {}))


def image_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--size W,H`` (inches) and ``--dpi N``, passed as ``size`` (text or None) and ``dpi``;
    the image has ``W*dpi`` by ``H*dpi`` pixels. ``customrun plot`` and ``customrun schedule --plot``
    share them."""
    size = click.option(
        "--size", metavar="W,H", help="Image size in inches (default: 8 wide, 2.5 high a row of subplots)."
    )
    dpi = click.option(
        "--dpi",
        type=click.IntRange(min=1),
        default=100,
        show_default=True,
        metavar="N",
        help="Pixels per inch.",
    )
    return size(dpi(command))


trace_hooks_option = click.option(
    "--trace-hooks",
    is_flag=False,
    flag_value="all",
    default=None,
    envvar="CUSTOMRUN_TRACE_HOOKS",
    metavar="[POINTS]",
    help="Print each hook call with its implementations and their time; optionally only these "
    "comma-separated hook points (CUSTOMRUN_TRACE_HOOKS does the same).",
)


def traced(value: str | None) -> str | None:
    """``--trace-hooks`` / ``CUSTOMRUN_TRACE_HOOKS`` as the Runner takes it: ``0`` or empty is off."""
    return None if value is None or value.strip() in ("", "0") else value


def run_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """What ``train`` and ``test`` share after their own options: ``--set``, ``--work-dir``,
    ``--device``, the plugin switches, ``--trace-hooks`` and ``--traceback``."""
    from customrun_core.cli import traceback_option

    decorators: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
        set_option, work_dir_option, device_option, plugin_options, trace_hooks_option, traceback_option
    ]  # fmt: skip
    for decorator in reversed(decorators):
        command = decorator(command)
    return command
