"""The top level of a config as frozen attrs classes, with MMEngine's key names and defaults."""

from __future__ import annotations

import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import attrs

from customrun_core.config import types
from customrun_core.config.origins import attributing
from customrun_core.errors import ConfigError, closest

Table = dict[str, Any]


def _module_list(value: list[str] | str) -> list[str]:
    return [value] if isinstance(value, str) else value


@attrs.frozen
class CustomImports:
    """Modules imported before anything is built, so that their ``register`` calls take effect;
    ``imports = "my_hooks"`` is one module, as in MMEngine (built, ``imports`` is always a list)."""

    imports: list[str] | str = attrs.field(factory=list, converter=_module_list)
    allow_failed_imports: bool = False


@attrs.frozen
class Randomness:
    """Seeds for Python, NumPy and torch; ``deterministic`` turns on torch's deterministic algorithms."""

    seed: int | None = attrs.field(default=None, metadata={"minimum": 0})
    deterministic: bool = False


@attrs.frozen
class DistConfig:
    """``dist_cfg``: how torch.distributed is initialised under torchrun. ``backend`` defaults to
    NCCL on CUDA and Gloo on the CPU; ``timeout`` (seconds) bounds every collective operation."""

    backend: Literal["nccl", "gloo", "mpi", "ucc"] | None = None
    timeout: int = attrs.field(default=1800, metadata={"minimum": 1})


@attrs.frozen
class PluginsConfig:
    """``[plugins]``: plugins to enable or disable by name, and requirements the installed set
    must meet (``require = ["customrun-lars>=0.1"]``). The command line and the environment
    override what this says."""

    enable: list[str] = attrs.field(factory=list)
    disable: list[str] = attrs.field(factory=list)
    require: list[str] = attrs.field(factory=list)


@attrs.frozen
class RunConfig:
    """A whole run. Component tables (``model``, ``train_cfg``, ...) keep their keyword arguments
    as plain tables; they are checked against the component's signature before it is built, and
    so is ``compile``'s table against ``torch.compile``'s (here it is only a boolean or a table:
    reading a config imports no torch)."""

    model: Table
    train_dataloader: Table | None = None
    val_dataloader: Table | None = None
    test_dataloader: Table | None = None
    train_cfg: Table | None = None
    val_cfg: Table | None = None
    test_cfg: Table | None = None
    optim_wrapper: Table | None = None
    param_scheduler: list[Table] | Table | None = None
    default_hooks: dict[str, Table | bool] = attrs.field(factory=dict)
    custom_hooks: list[Table] = attrs.field(factory=list)
    custom_imports: CustomImports = attrs.field(factory=CustomImports)
    val_evaluator: Table | list[Table] | None = None
    test_evaluator: Table | list[Table] | None = None
    work_dir: str | None = None
    device: str = "auto"
    launcher: Literal["none", "torchrun"] | None = None
    dist_cfg: DistConfig = attrs.field(factory=DistConfig)
    model_wrapper_cfg: Table = attrs.field(factory=dict)
    sync_bn: bool | Literal["torch"] = False
    on_nonfinite: Literal["error", "skip", "warn"] = "error"
    max_nonfinite_skips: int = attrs.field(default=10, metadata={"minimum": 1})
    randomness: Randomness = attrs.field(factory=Randomness)
    compile: bool | Table = False
    channels_last: bool = False
    cudnn_benchmark: bool = False
    load_from: str | None = None
    resume: bool | str = False
    plugins: PluginsConfig = attrs.field(factory=PluginsConfig)
    progress: bool | Literal["auto"] = attrs.field(
        default="auto",
        metadata={
            "doc": 'the console progress bar (iterations/s, ETA, loss, lr): `"auto"` shows it only when'
            " stdout is a terminal and no CI variable (`CI`, ...) is set; `true`, `false`"
            " ([console-and-tensorboard.md](console-and-tensorboard.md))"
        },
    )
    source: str = attrs.field(default="<config>", metadata={"config": False})
    # key path -> the file (or "--set") that set it: read only to say where a wrong key came from
    origins: Mapping[str, str] = attrs.field(factory=dict, eq=False, repr=False, metadata={"config": False})

    def to_dict(self) -> dict[str, Any]:
        """The config as TOML-ready data: no ``None`` (TOML has none), no bookkeeping fields."""
        data = attrs.asdict(self, filter=lambda a, v: a.metadata.get("config", True))
        return _drop_none(data)


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def structure(cls: type[Any], data: Any, file: str, prefix: str = "") -> Any:
    """Build the attrs class ``cls`` from TOML data, one-line :class:`ConfigError` on any mistake.

    A field with ``metadata={"minimum": N}`` refuses a number below ``N``."""
    if not isinstance(data, dict):
        raise ConfigError(types.check(data, dict) or "expected a table", file=file, key=prefix or None)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in attrs.fields(cls) if f.metadata.get("config", True)}
    unknown = [k for k in data if k not in fields]
    if unknown:
        key = unknown[0]
        raise ConfigError(
            f"unknown key (valid keys: {', '.join(fields)})" if not closest(key, fields) else "unknown key",
            file=file,
            key=_join(prefix, key),
            suggestions=closest(key, fields),
        )
    kwargs: dict[str, Any] = {}
    for name, field in fields.items():
        if name not in data:
            if field.default is attrs.NOTHING:
                raise ConfigError("required key is missing", file=file, key=_join(prefix, name))
            continue
        hint = hints[name]
        value = data[name]
        if attrs.has(hint):
            value = structure(hint, value, file, _join(prefix, name))
        else:
            problem = types.check(value, hint) or _check_minimum(value, hint, field)
            if problem:
                raise ConfigError(problem, file=file, key=_join(prefix, name))
        kwargs[name] = value
    return cls(**kwargs)


def _check_minimum(value: Any, hint: Any, field: attrs.Attribute[Any]) -> str | None:
    """A field's ``minimum`` and ``maximum`` (its metadata) checked: values TOML allows but a run
    cannot use."""
    minimum, maximum = field.metadata.get("minimum"), field.metadata.get("maximum")
    what = types.expected(hint) or "a number"
    if minimum is not None and (problem := types.check_minimum(value, minimum, what)):
        return problem
    if maximum is not None and types.is_number(value) and value > maximum:
        return f"expected {what} <= {maximum}, got {value}"
    return None


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def parse_config(data: dict[str, Any], file: str, origins: Mapping[str, str] | None = None) -> RunConfig:
    """Validate a merged config dict into a :class:`RunConfig`; ``origins`` (key path -> the file
    or ``--set`` that set it) make an error name where its key came from."""
    origins = origins or {}
    if "source" in data:
        raise ConfigError("unknown key", file=file, key="source")
    with attributing(file, origins):
        config = structure(RunConfig, data, file)
    if config.cudnn_benchmark and config.randomness.deterministic:
        raise ConfigError(
            "cudnn_benchmark = true contradicts randomness.deterministic = true (benchmarking picks"
            " convolution algorithms by timing them, so results vary from run to run): set one to false",
            file=file,
            key="cudnn_benchmark",
        )
    return attrs.evolve(config, source=file, origins=origins)


def default_work_dir(source: str) -> str:
    """MMEngine's default: ``./work_dirs/<config file name without .toml>``."""
    stem = Path(source).stem if source and not source.startswith("<") else "run"
    return str(Path("work_dirs") / stem)
