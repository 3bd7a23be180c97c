"""``customrun param-groups``: each trainable parameter's optimizer group, without training."""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable
from typing import Any

import click

from customrun_core.cli import traceback_option
from customrun_core.cli.options import config_argument, plugin_options, plugin_switches, set_option
from customrun_core.errors import ConfigError

_GROUP_OWN_KEYS = ("params", "lr", "weight_decay")


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
    library_logger = logging.getLogger("customrun_core")
    handler = _WarningLines(logging.WARNING)
    library_logger.addHandler(handler)
    with warnings.catch_warnings():
        warnings.simplefilter("always", UserWarning)  # each config warning, every time
        warnings.showwarning = _warning_line  # one line per warning, without the source-line echo
        try:
            report = collect(config_file, overrides)
        finally:
            library_logger.removeHandler(handler)
    if as_json:
        click.echo(json.dumps({k: v for k, v in report.items() if k != "frozen"}, indent=2, default=str))
    else:
        print_table(report)


def _warning_line(message: Warning | str, *_args: Any, **_kwargs: Any) -> None:
    click.echo(f"warning: {message}", err=True)


class _WarningLines(logging.Handler):
    """Log records of the library (frozen parameters left out) as ``warning: ...`` lines."""

    def emit(self, record: logging.LogRecord) -> None:
        _warning_line(record.getMessage())


def _located(make: Callable[[], Any], file: str, key: str | None = None) -> Any:
    try:
        return make()
    except ConfigError as error:
        raise error.located(file=file, key_prefix=key) from error


def collect(config_file: str, overrides: tuple[str, ...]) -> dict[str, Any]:
    """``{"parameters": [...], "unmatched_custom_keys": [...], "frozen": N}`` for a config."""
    from customrun_core import plugins
    from customrun_core.build import build
    from customrun_core.config import load_config
    from customrun_core.models.wrappers import unwrap_model
    from customrun_core.optim.constructor import build_constructor
    from customrun_core.optim.wrapper_dict import is_per_submodule
    from customrun_core.plugin_policy import activate

    cfg = load_config(config_file, overrides)
    activate(cfg.plugins, plugin_switches())
    if cfg.optim_wrapper is None:
        raise ConfigError("required to list parameter groups", file=cfg.source, key="optim_wrapper")
    imports = cfg.custom_imports
    plugins.import_custom_modules(imports.imports, imports.allow_failed_imports, cfg.source)
    per_member = is_per_submodule(cfg.optim_wrapper)
    members = dict(cfg.optim_wrapper) if per_member else {"": cfg.optim_wrapper}
    constructors = {
        name: _located(lambda t=table: build_constructor(t), cfg.source, _key(name))
        for name, table in members.items()
    }
    model = unwrap_model(_located(lambda: build("models", cfg.model, key="model"), cfg.source))
    report: dict[str, Any] = {"parameters": [], "unmatched_custom_keys": []}
    for name, constructor in constructors.items():
        module = _located(lambda n=name: _submodule(model, n), cfg.source, "optim_wrapper")
        optimizer, unmatched = _located(lambda c=constructor, m=module: _groups(c, m), cfg.source, _key(name))
        for row in parameter_rows(module, optimizer, prefix=f"{name}." if name else ""):
            report["parameters"].append({**row, "optimizer": name} if per_member else row)
        report["unmatched_custom_keys"] += [f"{name}: {key}" if name else key for key in unmatched]
    report["frozen"] = sum(not p.requires_grad for p in model.parameters())
    return report


def _key(member: str) -> str:
    return f"optim_wrapper.{member}" if member else "optim_wrapper"


def _submodule(model: Any, name: str) -> Any:
    if not name:
        return model
    children = dict(model.named_children())
    if name not in children:
        raise ConfigError(f"the model has no submodule {name!r} to optimize", key=name)
    return children[name]


def _groups(constructor: Any, module: Any) -> tuple[Any, list[str]]:
    """The optimizer over the constructor's groups, and the custom keys that set nothing."""
    from customrun_core.optim.constructor import DefaultOptimWrapperConstructor

    if not isinstance(constructor, DefaultOptimWrapperConstructor):  # it only builds whole wrappers
        return constructor(module).optimizer, []
    result = constructor.param_groups(module)
    return constructor.build_optimizer(result.groups), result.unmatched_custom_keys


def parameter_rows(module: Any, optimizer: Any, prefix: str = "") -> list[dict[str, Any]]:
    """One row per trainable parameter of ``module``: name, shape, group index, lr, weight decay and
    the group's other entries (optimizer defaults left out unless the group changes them)."""
    index = {id(p): k for k, group in enumerate(optimizer.param_groups) for p in group["params"]}
    rows = []
    for name, param in module.named_parameters():
        if not param.requires_grad:
            continue
        k = index.get(id(param))  # None: the constructor left it out of the optimizer
        group = optimizer.param_groups[k] if k is not None else {}
        extra = {
            key: _plain(value)
            for key, value in group.items()
            if key not in _GROUP_OWN_KEYS and not _same(value, optimizer.defaults.get(key, _MISSING))
        }
        rows.append(
            {
                "name": prefix + name,
                "shape": list(param.shape),
                "group": k,
                "lr": _plain(group.get("lr")),
                "weight_decay": _plain(group.get("weight_decay")),
                "extra": extra,
            }
        )
    return rows


_MISSING = object()


def _same(value: Any, default: Any) -> bool:
    try:
        return default is not _MISSING and bool(value == default)
    except (RuntimeError, ValueError):  # tensors that do not compare to one boolean
        return False


def _plain(value: Any) -> Any:
    """A tensor lr (capturable optimizers) as a number; anything else as it is."""
    return value.item() if hasattr(value, "item") and getattr(value, "ndim", 1) == 0 else value


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
