"""One assembly of a run: check a whole config before anything is built, then build its parts.

The Runner, ``customrun schedule`` and ``customrun param-groups`` all assemble through this module,
so a config that one of them accepts, the others accept too. Every function raises
:class:`~customrun_core.errors.ConfigError` located in the config's file and at the key path of the
table at fault.

The order a run follows: :func:`prepare` (plugin policy, ``custom_imports``, global plugins),
:func:`check` (every component resolved, its arguments checked, nothing built), then the builders
as they are needed: :func:`build_model`, :func:`build_hooks`, :func:`build_dataloader`,
:func:`build_train_loop`, :func:`build_optim_wrapper`, :func:`build_schedulers`,
:func:`build_eval_loop`.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from customrun_core import import_paths, plugins
from customrun_core.build import build, resolve_checked
from customrun_core.config import RunConfig
from customrun_core.config.origins import attributed
from customrun_core.errors import ConfigError, located

if TYPE_CHECKING:
    from torch import nn

    from customrun_core.loops import TrainLoop

MODES = ("train", "val", "test")
DEFAULT_EVAL_LOOPS = {"val": "ValLoop", "test": "TestLoop"}


@attributed  # an error names the file (or --set) its key came from
def prepare(cfg: RunConfig, plugin_switches: Mapping[str, Any] | None = None, hooks: Any = None) -> None:
    """Make the config's components resolvable: apply the plugin policy (the config's ``[plugins]``
    under the command line's and the environment's switches), import ``custom_imports``, and, when
    ``hooks`` (a run's hook dispatcher) is given, load the global ``customrun.plugins`` into it."""
    from customrun_core.registry import activate_policy as activate

    activate(cfg.plugins, plugin_switches)
    import_paths.use_config(cfg.source)  # import paths also find modules beside the config file
    imports = cfg.custom_imports
    plugins.import_custom_modules(imports.imports, imports.allow_failed_imports, cfg.source)
    if hooks is not None:
        plugins.load_plugins(hooks)


# -- checking ------------------------------------------------------------------------------------
@attributed  # an error names the file (or --set) its key came from
def check(cfg: RunConfig, built: Mapping[str, Any] | None = None) -> None:
    """Resolve every component table of ``cfg`` and check its arguments, building nothing; the
    places ``built`` holds an object for (by key path, see :mod:`customrun_core.config.built`) are
    taken as they are."""
    built = built or {}
    from customrun_core.hooks.defaults import split_priority
    from customrun_core.models.plain import check_model_class
    from customrun_core.parallel import DEFAULT_WRAPPER
    from customrun_core.speed import compile_arguments

    def component(kind: str, table: Any, key: str, default: str | None = None, **injected: Any) -> Any:
        if key in built:
            return None
        with located(cfg.source):
            return resolve_checked(kind, table, key, default, **injected)[0]

    with located(cfg.source):
        check_model_class(component("models", cfg.model, "model"))
    with located(cfg.source):
        compile_arguments(cfg.compile)
    _check_data(cfg, component, built)
    loop_by_epoch = _check_train_loop(cfg, component) if cfg.train_cfg is not None else True
    for mode, default in DEFAULT_EVAL_LOOPS.items():
        table = getattr(cfg, f"{mode}_cfg")
        if table is not None:
            component("loops", table, f"{mode}_cfg", default, runner=None, dataloader=None, evaluator=None)
    if cfg.optim_wrapper is not None:
        _check_optimization(cfg, component, loop_by_epoch)
    for key, table in _hook_tables(cfg):
        component("hooks", split_priority(table)[0], key)
    component("model_wrappers", cfg.model_wrapper_cfg, "model_wrapper_cfg", DEFAULT_WRAPPER, model=None,
              device=None)  # fmt: skip


def _check_data(cfg: RunConfig, component: Any, built: Mapping[str, Any]) -> None:
    from customrun_core.datasets.loader import check_dataloader
    from customrun_core.metrics.accuracy import Accuracy, check_topk
    from customrun_core.metrics.evaluator import tables_to_check

    for mode in MODES:
        loader = getattr(cfg, f"{mode}_dataloader")
        if loader is not None and f"{mode}_dataloader" not in built:
            with located(cfg.source):
                table = check_dataloader(loader, f"{mode}_dataloader", cfg.source)
            component("datasets", table.dataset, f"{mode}_dataloader.dataset")
        for key, metric in tables_to_check(getattr(cfg, f"{mode}_evaluator", None), f"{mode}_evaluator"):
            if component("metrics", metric, key) is Accuracy and "model" not in built:
                with located(cfg.source, key):
                    check_topk(metric, cfg.model)


def _check_train_loop(cfg: RunConfig, component: Any) -> bool:
    """The train loop must meet the :class:`~customrun_core.loops.TrainLoop` contract, which the
    runner, the hooks and the progress bar read (``epoch``, ``iter``, ``max_iters``, ...); returns
    its unit (``TrainLoop.by_epoch``)."""
    from customrun_core.loops import TrainLoop

    table, default = _train_loop_table(cfg)
    loop_class = component("loops", table, "train_cfg", default, runner=None, dataloader=None)
    if not (isinstance(loop_class, type) and issubclass(loop_class, TrainLoop)):
        name = getattr(loop_class, "__name__", repr(loop_class))
        raise ConfigError(
            f"{name} is not a train loop: a train_cfg loop subclasses customrun_core.loops.TrainLoop"
            " (EpochBasedTrainLoop, IterBasedTrainLoop), which keeps the position hooks read",
            file=cfg.source,
            key="train_cfg.type",
        )
    return bool(loop_class.by_epoch)


def _train_loop_unit(cfg: RunConfig) -> tuple[bool, int | None]:
    """The train loop's ``by_epoch`` and ``val_interval`` (None when the loop has none), read from
    ``train_cfg`` and the loop class without building it; ``(True, None)`` without ``train_cfg``."""
    from customrun_core.build import resolve_type

    if cfg.train_cfg is None:
        return True, None
    with located(cfg.source):
        table, default = _train_loop_table(cfg)
        loop_class = resolve_type("loops", table.get("type", default), "train_cfg.type")
    try:
        param = inspect.signature(loop_class).parameters.get("val_interval")
    except (TypeError, ValueError):
        param = None
    interval = table.get(
        "val_interval", None if param is None or param.default is param.empty else param.default
    )
    return bool(getattr(loop_class, "by_epoch", True)), interval


def _hook_tables(cfg: RunConfig) -> list[tuple[str, dict[str, Any]]]:
    """(key path, table) of every hook of the run (:func:`~customrun_core.hooks.defaults.hook_tables`),
    a CheckpointHook's counted in the train loop's unit (:func:`~customrun_core.hooks.checkpoint.in_loop_unit`)."""
    from customrun_core.hooks.checkpoint import in_loop_unit
    from customrun_core.hooks.defaults import hook_tables

    with located(cfg.source):
        tables = hook_tables(cfg.default_hooks, cfg.custom_hooks, cfg.progress)
    if cfg.train_cfg is None:
        return tables
    by_epoch, val_interval = _train_loop_unit(cfg)
    with located(cfg.source):
        return [(key, in_loop_unit(table, key, by_epoch, val_interval)) for key, table in tables]


def _check_optimization(cfg: RunConfig, component: Any, loop_by_epoch: bool = True) -> None:
    from customrun_core.optim.constructor import DEFAULT_CONSTRUCTOR, check_optimizer
    from customrun_core.schedulers.build import check_scheduler, scheduler_tables

    for prefix, wrapper in wrapper_tables(cfg):
        constructor = wrapper.get("constructor", DEFAULT_CONSTRUCTOR)
        component("optim_wrapper_constructors", constructor, f"{prefix}.constructor", optim_wrapper_cfg=None,
                  paramwise_cfg=None)  # fmt: skip
        if "optimizer" in wrapper:
            with located(cfg.source, prefix):
                check_optimizer(wrapper["optimizer"])
    for member_cfg, key in scheduler_configs(cfg).values():
        for table_key, table in scheduler_tables(member_cfg, key):
            with located(cfg.source):
                check_scheduler(table, table_key, loop_by_epoch)


def wrapper_tables(cfg: RunConfig) -> list[tuple[str, dict[str, Any]]]:
    """(key path, table) of each optim wrapper: one, or one per submodule."""
    from customrun_core.optim.wrapper_dict import is_per_submodule

    optim_cfg = cfg.optim_wrapper or {}
    if is_per_submodule(optim_cfg):
        return [(f"optim_wrapper.{name}", table) for name, table in optim_cfg.items()]
    return [("optim_wrapper", optim_cfg)]


def scheduler_configs(cfg: RunConfig) -> dict[str, tuple[Any, str]]:
    """Per optim wrapper (``""`` when there is one), its ``param_scheduler`` config and key path."""
    from customrun_core.optim.wrapper_dict import is_per_submodule, schedulers_per_member

    optim_cfg = cfg.optim_wrapper or {}
    if not is_per_submodule(optim_cfg):
        return {"": (cfg.param_scheduler, "param_scheduler")}
    with located(cfg.source):
        per_member = schedulers_per_member(cfg.param_scheduler, list(optim_cfg))
    shared = not (isinstance(cfg.param_scheduler, dict) and "type" not in cfg.param_scheduler)
    return {
        name: (member_cfg, "param_scheduler" if shared else f"param_scheduler.{name}")
        for name, member_cfg in per_member.items()
    }


def _train_loop_table(cfg: RunConfig) -> tuple[dict[str, Any], str]:
    """MMEngine's rule: without ``type``, ``by_epoch`` (default true) picks the epoch or iteration loop."""
    table = dict(required(cfg, "train_cfg", "to train"))
    if "type" in table and "by_epoch" in table:
        raise ConfigError("give either type or by_epoch, not both", file=cfg.source, key="train_cfg.by_epoch")
    by_epoch = table.pop("by_epoch", True)
    return table, "EpochBasedTrainLoop" if by_epoch else "IterBasedTrainLoop"


def required(cfg: RunConfig, key: str, why: str) -> Any:
    """``cfg.<key>``, which must be set ``why`` ("to train", ...)."""
    value = getattr(cfg, key)
    if value is None:
        raise ConfigError(f"required {why}", file=cfg.source, key=key)
    return value


# -- building ------------------------------------------------------------------------------------
@attributed
def build_model(cfg: RunConfig, built: Mapping[str, Any] | None = None) -> nn.Module:
    """The model ``cfg.model`` describes, as built (on the CPU, not wrapped); a plain ``nn.Module``
    whose ``forward(inputs, targets)`` returns its loss gets the step methods the loops call
    (:mod:`customrun_core.models.plain`)."""
    from customrun_core.models.plain import with_steps

    if built and "model" in built:
        return with_steps(built["model"])
    with located(cfg.source):
        model: nn.Module = build("models", cfg.model, key="model")
    return with_steps(model)


@attributed
def build_model_wrapper(cfg: RunConfig, model: nn.Module, device: Any) -> nn.Module:
    """``model`` in the wrapper ``model_wrapper_cfg`` names (DDP by default), for a run under torchrun."""
    from customrun_core.parallel import DEFAULT_WRAPPER

    with located(cfg.source):
        wrapped: nn.Module = build(
            "model_wrappers", cfg.model_wrapper_cfg, "model_wrapper_cfg", DEFAULT_WRAPPER, model=model,
            device=device,
        )  # fmt: skip
    return wrapped


@attributed
def build_hooks(
    cfg: RunConfig, rank: int = 0, built: Mapping[str, Any] | None = None
) -> Iterator[tuple[str, Any, Any]]:
    """(key path, hook, configured priority) of every hook of the run, defaults first; a hook not
    wanted on the process ``rank`` (the progress bar outside a terminal) is left out."""
    from customrun_core.hooks.defaults import build_hook

    for key, table in _hook_tables(cfg):
        if built and key in built:  # a hook object given from Python, with its own priority
            yield key, built[key], None
            continue
        with located(cfg.source):
            hook = build_hook(table, key, rank)
        if hook is not None:
            yield key, *hook


@attributed
def build_dataloader(cfg: RunConfig, mode: str, seed: int, rank: int = 0, world_size: int = 1,
                     device: Any = None, built: Mapping[str, Any] | None = None) -> Any:  # fmt: skip
    """The ``<mode>_dataloader``: this process's share of the data (the training data shuffled
    and sharded over ``world_size`` processes), batches collated for ``device``. A ``DataLoader``
    given from Python (in ``built``) is used as it is; a ``Dataset`` given so is loaded as a
    table's would be."""
    from customrun_core.datasets.loader import build_dataloader as build_loader

    key = f"{mode}_dataloader"
    table = required(cfg, key, f"to {mode}")
    built = built or {}
    if key in built:
        return built[key]
    settings: dict[str, Any] = (
        {"device": device, "channels_last": cfg.channels_last} if device is not None else {}
    )
    if f"{key}.dataset" in built:
        settings["dataset"] = built[f"{key}.dataset"]
    with located(cfg.source):
        return build_loader(table, key, cfg.source, seed, rank, world_size, mode == "train", **settings)


@attributed
def build_train_loop(cfg: RunConfig, runner: Any, dataloader: Any) -> TrainLoop:
    """The ``train_cfg`` loop over ``dataloader``; ``runner`` may be None for a dry run."""
    with located(cfg.source):
        table, default = _train_loop_table(cfg)
        loop: TrainLoop = build(
            "loops", table, key="train_cfg", default_type=default, runner=runner, dataloader=dataloader
        )
    return loop


@attributed
def build_eval_loop(
    cfg: RunConfig, mode: str, runner: Any, dataloader: Any, built: Mapping[str, Any] | None = None
) -> Any:
    """The ``val_cfg`` / ``test_cfg`` loop over ``dataloader`` with its evaluator; metrics given
    from Python (in ``built``) are used as they are."""
    from customrun_core.metrics.evaluator import Evaluator

    key = f"{mode}_evaluator"
    evaluator_cfg = required(cfg, key, f"when {mode}_dataloader is set")
    with located(cfg.source):
        evaluator = Evaluator.from_config(evaluator_cfg, key, built)
        return build(
            "loops",
            getattr(cfg, f"{mode}_cfg") or {},
            key=f"{mode}_cfg",
            default_type=DEFAULT_EVAL_LOOPS[mode],
            runner=runner,
            dataloader=dataloader,
            evaluator=evaluator,
        )


@attributed
def build_optim_wrapper(cfg: RunConfig, model: nn.Module) -> Any:
    """The ``optim_wrapper`` over ``model``'s parameters: one wrapper, or an ``OptimWrapperDict``
    with one per submodule."""
    from customrun_core import parallel
    from customrun_core.optim.constructor import build_optim_wrapper as build_one
    from customrun_core.optim.wrapper_dict import build_optim_wrapper_dict, is_per_submodule

    optim_cfg = required(cfg, "optim_wrapper", "to train")
    per_member = is_per_submodule(optim_cfg)
    if per_member and parallel.is_sharded(model):
        raise ConfigError(
            "one optim wrapper per submodule is not supported with FSDP: use one [optim_wrapper]",
            file=cfg.source,
            key="optim_wrapper",
        )
    with located(cfg.source, "optim_wrapper"):
        return (build_optim_wrapper_dict if per_member else build_one)(model, optim_cfg)


def optim_members(optim_wrapper: Any) -> dict[str, Any]:
    """The run's optim wrappers by name: ``{"": wrapper}`` for one, else the dict's members."""
    from customrun_core.optim.wrapper_dict import OptimWrapperDict

    if isinstance(optim_wrapper, OptimWrapperDict):
        return dict(optim_wrapper.items())
    return {"": optim_wrapper}


@attributed
def build_schedulers(cfg: RunConfig, optim_wrapper: Any, loop: Any, epoch_length: int) -> Any:
    """The ``param_scheduler`` of each optim wrapper, with ``end`` defaulting to the training
    length: a list, or for an ``OptimWrapperDict`` a dict of lists by member name."""
    from customrun_core.schedulers.build import build_param_schedulers

    configs = scheduler_configs(cfg)
    built = {}
    for name, wrapper in optim_members(optim_wrapper).items():
        member_cfg, key = configs[name]
        with located(cfg.source):
            built[name] = build_param_schedulers(
                member_cfg, wrapper, epoch_length, loop.max_epochs, loop.max_iters, key=key,
                loop_by_epoch=bool(getattr(loop, "by_epoch", True)),
            )  # fmt: skip
    return built.get("", built)  # one wrapper: its list


def optimization_warnings(cfg: RunConfig, schedulers: Any, loop: Any) -> list[str]:
    """What the optimizer tables allow but likely do not mean (an lr of 0), then
    :func:`schedule_warnings`: what a run warns about when training starts."""
    from customrun_core.optim.constructor import optimizer_warnings

    return optimizer_warnings(cfg.optim_wrapper) + schedule_warnings(cfg, schedulers, loop)


def schedule_warnings(cfg: RunConfig, schedulers: Any, loop: Any) -> list[str]:
    """What does not fit between the schedule and the run's length, one message each (what a run
    warns about when training starts, and ``customrun schedule`` prints)."""
    from customrun_core.schedulers.build import coverage_warnings

    configs = scheduler_configs(cfg)
    members = schedulers.items() if isinstance(schedulers, dict) else [("", schedulers)]
    messages = []
    for name, built in members:
        member_cfg, key = configs[name]
        for message in coverage_warnings(member_cfg, built, loop.max_epochs, loop.max_iters, key):
            messages.append(f"{name}: {message}" if name else message)
    return messages
