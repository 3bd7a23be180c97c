"""torchmetrics metrics as customrun metrics, named by import path in ``val_evaluator``:
``{ type = "torchmetrics.classification:MulticlassAccuracy", num_classes = 10 }``.

A ``type`` import path that names a ``torchmetrics.Metric`` or ``torchmetrics.MetricCollection``
class resolves to a :class:`MetricFactory` (see :mod:`customrun_core.import_paths`), whose
signature is the metric's own plus torchmetrics' common options and the adapter's keys, so a
misspelt argument is a one-line error at its key path before anything is built. Calling it builds
the metric inside a :class:`TorchMetric`, which the evaluator feeds like any customrun metric.

The feeding rule, for each batch: ``metric.update(preds, target)`` where ``preds`` is what the
model's ``val_step`` / ``test_step`` returned (``outputs[preds_key]`` when ``preds_key`` is set)
and ``target`` the batch's targets (the ``targets`` of a dict batch or the second item of an
``(inputs, targets)`` pair; ``data_batch[target_key]`` when ``target_key`` is set).

Nothing here imports torchmetrics: a class can only derive from torchmetrics' when torchmetrics
is already imported, so the check reads ``sys.modules``.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from customrun_core.errors import ConfigError

__all__ = [
    "ADAPTER_OPTIONS",
    "MetricFactory",
    "TorchMetric",
    "adapt",
    "flatten",
    "is_torchmetrics",
    "member_tables",
    "metric_factory",
    "snake_case",
]

# The keys of a metric's table that the adapter reads; every other key goes to the metric.
ADAPTER_OPTIONS: dict[str, Any] = {"name": str | None, "preds_key": str | None, "target_key": str | None}

# torchmetrics.Metric's own keyword arguments, which every metric passes on through **kwargs.
_METRIC_OPTIONS: dict[str, tuple[Any, Any]] = {
    "compute_on_cpu": (bool, False),
    "dist_sync_on_step": (bool, False),
    "sync_on_compute": (bool, True),
    "compute_with_cache": (bool, True),
    "process_group": (Any, None),
    "dist_sync_fn": (Any, None),
    "distributed_available_fn": (Any, None),
}


def _torchmetrics_bases() -> tuple[type, ...]:
    module = sys.modules.get("torchmetrics")
    if module is None:
        return ()
    return (module.Metric, module.MetricCollection)


def is_torchmetrics(obj: Any) -> bool:
    """Whether ``obj`` is a torchmetrics metric or collection, or the class of one."""
    bases = _torchmetrics_bases()
    if not bases:
        return False
    return issubclass(obj, bases) if inspect.isclass(obj) else isinstance(obj, bases)


def snake_case(name: str) -> str:
    """``MulticlassAccuracy`` -> ``multiclass_accuracy``, ``MulticlassAUROC`` -> ``multiclass_auroc``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


class TorchMetric:
    """A torchmetrics metric (or collection) fed as a customrun metric.

    Args:
        metric: the built ``torchmetrics.Metric`` or ``MetricCollection``.
        name: the name its results are logged under (see :func:`flatten`); ``""`` logs a
            collection's keys as they are.
        preds_key: read the predictions from ``outputs[preds_key]`` (a model whose step returns a dict).
        target_key: read the targets from ``data_batch[target_key]`` (a dict batch whose targets are
            not under ``targets``).
    """

    def __init__(self, metric: Any, name: str, preds_key: str | None = None, target_key: str | None = None):
        self.metric, self.name = metric, name
        self.preds_key, self.target_key = preds_key, target_key
        self._device: Any = None

    def reset(self) -> None:
        self.metric.reset()

    def process(self, data_batch: Any, outputs: Any) -> None:
        """``update(preds, target)`` with this batch; the metric's states follow the predictions'
        device (the runner's), so a CUDA run accumulates on the GPU."""
        from customrun_core.models.base import unpack_batch

        preds = self._pick(outputs, self.preds_key, "preds_key", "the outputs of val_step/test_step")
        if self.target_key is None:
            target = unpack_batch(data_batch)[1]
            if target is None:
                raise ConfigError(f"{self.label}: the batch has no targets; name them with target_key")
        else:
            target = self._pick(data_batch, self.target_key, "target_key", "the batch")
        device = getattr(preds, "device", None)
        if device is not None and device != self._device:
            self.metric.to(device)
            self._device = device
        self.metric.update(preds, target)

    def _pick(self, holder: Any, key: str | None, option: str, what: str) -> Any:
        if key is None:
            if isinstance(holder, Mapping):
                raise ConfigError(
                    f"{self.label}: {what} is a dict ({', '.join(map(str, holder))}); set {option}"
                )
            return holder
        if not isinstance(holder, Mapping) or key not in holder:
            keys = ", ".join(map(str, holder)) if isinstance(holder, Mapping) else type(holder).__name__
            raise ConfigError(f"{self.label}: {option} {key!r} is not in {what} ({keys})")
        return holder[key]

    @property
    def label(self) -> str:
        return type(self.metric).__name__

    def sync(self, reduce: Any) -> None:
        """Nothing to sum: torchmetrics gathers its states over the processes itself, inside
        ``compute()``. That this method exists tells the evaluator that ``compute()`` gives the
        whole dataset's result on every process, so it neither sums nor replaces it with rank 0's."""

    def compute(self) -> dict[str, float]:
        return flatten(self.name, self.metric.compute())


def flatten(name: str, value: Any) -> dict[str, float]:
    """A metric's result as ``{name: float}``: a scalar tensor or number under ``name``; a dict
    (a collection's, or a metric's own) as ``name/key`` (``key`` alone when ``name`` is ``""``); a
    tensor with elements (``average = "none"``) or a list as ``name/0``, ``name/1``, ... Nested
    results are flattened the same way; values that are not numbers are left out."""
    import torch

    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.numel() == 1:
            return {name: float(value.item())}
        value = list(value)
    if isinstance(value, Mapping):
        items: list[tuple[str, Any]] = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, Sequence) and not isinstance(value, str):
        items = [(str(i), v) for i, v in enumerate(value)]
    elif isinstance(value, int | float) and not isinstance(value, bool):
        return {name: float(value)}
    else:
        return {}
    results: dict[str, float] = {}
    for key, item in items:
        results.update(flatten(f"{name}/{key}" if name else key, item))
    return results


def adapt(metric: Any) -> TorchMetric:
    """A built torchmetrics metric in its adapter, named as a table without ``name`` would be
    (a collection: ``""``, its keys as they are)."""
    collection = isinstance(metric, _torchmetrics_bases()[1])
    return TorchMetric(metric, "" if collection else snake_case(type(metric).__name__))


# -- what a torchmetrics import path resolves to ---------------------------------------------------
class MetricFactory:
    """What ``type = "torchmetrics...:Name"`` resolves to: called with the table's keys, it builds
    ``Name`` and returns it in a :class:`TorchMetric`. Its ``__signature__`` lists the metric's
    arguments, torchmetrics' common options and :data:`ADAPTER_OPTIONS`, which is what the
    config check binds a table against."""

    def __init__(self, metric_class: type) -> None:
        self.metric_class = metric_class
        self.__name__ = self.__qualname__ = metric_class.__name__
        self.__module__ = metric_class.__module__
        self.__doc__ = metric_class.__doc__
        params = self._parameters()
        names = {p.name for p in params}
        params += [
            inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=hint)
            for n, hint in ADAPTER_OPTIONS.items()
            if n not in names
        ]
        self.__signature__ = inspect.Signature(params)
        self.__annotations__ = {p.name: p.annotation for p in params if p.annotation is not p.empty}

    def _parameters(self) -> list[inspect.Parameter]:
        """The metric's own named parameters, then Metric's options when it passes ``**kwargs`` on."""
        try:
            signature = inspect.signature(self.metric_class, eval_str=True)
        except Exception:  # annotations that do not evaluate: names only, no type checks
            signature = inspect.signature(self.metric_class)
            signature = signature.replace(
                parameters=[p.replace(annotation=p.empty) for p in signature.parameters.values()]
            )
        own = [
            p for p in signature.parameters.values() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ]
        params = [p.replace(kind=p.KEYWORD_ONLY) for p in own]
        if any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
            names = {p.name for p in own}
            params += [
                inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d, annotation=hint)
                for n, (hint, d) in _METRIC_OPTIONS.items()
                if n not in names
            ]
        return params

    def split(self, kwargs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """(the metric's arguments, the adapter's) of a checked table."""
        own = {p.name for p in inspect.signature(self.metric_class).parameters.values()}
        adapter = {k: v for k, v in kwargs.items() if k in ADAPTER_OPTIONS and k not in own}
        return {k: v for k, v in kwargs.items() if k not in adapter}, adapter

    def build_metric(self, kwargs: Mapping[str, Any]) -> Any:
        """The torchmetrics object itself, from the metric's arguments."""
        return self.metric_class(**kwargs)

    def default_name(self) -> str:
        return snake_case(self.metric_class.__name__)

    def __call__(self, **kwargs: Any) -> TorchMetric:
        metric_kwargs, options = self.split(kwargs)
        name = options.pop("name", None)
        metric = self.build_metric(metric_kwargs)
        return TorchMetric(metric, self.default_name() if name is None else name, **options)

    def __repr__(self) -> str:
        return f"<torchmetrics {self.metric_class.__module__}.{self.__name__} for customrun>"


class CollectionFactory(MetricFactory):
    """``type = "torchmetrics:MetricCollection"``: ``metrics`` is an array of metric tables (each
    logged under its ``name``, by default its class name in snake case) or a table of them by
    name; ``prefix``, ``postfix`` and ``compute_groups`` are torchmetrics'. The collection's own
    ``name`` is ``""`` by default: its results keep their keys (``prefix + name + postfix``)."""

    def _parameters(self) -> list[inspect.Parameter]:
        keyword = inspect.Parameter.KEYWORD_ONLY
        return [
            inspect.Parameter(
                "metrics", keyword, annotation=list[dict[str, Any]] | dict[str, dict[str, Any]]
            ),
            inspect.Parameter("prefix", keyword, default=None, annotation=str | None),
            inspect.Parameter("postfix", keyword, default=None, annotation=str | None),
            inspect.Parameter("compute_groups", keyword, default=True, annotation=bool | list[list[str]]),
        ]

    def split(self, kwargs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        adapter = {k: v for k, v in kwargs.items() if k in ADAPTER_OPTIONS}
        return {k: v for k, v in kwargs.items() if k not in adapter}, adapter

    def default_name(self) -> str:
        return ""

    def build_metric(self, kwargs: Mapping[str, Any]) -> Any:
        members: dict[str, Any] = {}
        for key, table, name in _members(kwargs["metrics"], "metrics"):
            metric, default = _build_member(table, key)
            chosen = default if name is None else name
            if chosen in members:
                raise ConfigError(
                    f"two metrics of the collection are named {chosen!r}; give one a name", key=key
                )
            members[chosen] = metric
        rest = {k: v for k, v in kwargs.items() if k != "metrics"}
        return self.metric_class(members, **rest)


def _members(metrics: Any, key: str) -> list[tuple[str, Any, str | None]]:
    """(key path, table, name given by a table of tables) of each member of a collection."""
    if isinstance(metrics, Mapping):
        return [(f"{key}.{name}", table, str(name)) for name, table in metrics.items()]
    return [(f"{key}[{i}]", table, None) for i, table in enumerate(metrics)]


def _build_member(table: Any, key: str) -> tuple[Any, str]:
    """(the torchmetrics object, its name) of one member table of a collection."""
    from customrun_core.build import call_checked, resolve_checked

    factory, kwargs = resolve_checked("metrics", table, key)
    if not isinstance(factory, MetricFactory):
        raise ConfigError(
            f"a MetricCollection holds torchmetrics metrics, got {getattr(factory, '__name__', factory)}",
            key=f"{key}.type",
        )
    for option in ("preds_key", "target_key"):
        if option in factory.split(kwargs)[1]:
            raise ConfigError(
                f"set {option} on the MetricCollection: its metrics all read the same predictions and targets",
                key=f"{key}.{option}",
            )
    member = call_checked(factory, kwargs, key)
    return member.metric, member.name or snake_case(factory.metric_class.__name__)


_factories: dict[type, MetricFactory] = {}


def metric_factory(metric_class: type) -> MetricFactory:
    """The factory a torchmetrics class named by an import path resolves to (one per class)."""
    if metric_class not in _factories:
        collection = issubclass(metric_class, _torchmetrics_bases()[1])
        _factories[metric_class] = (CollectionFactory if collection else MetricFactory)(metric_class)
    return _factories[metric_class]


def member_tables(table: Any, key: str) -> list[tuple[str, Any]]:
    """(key path, table) of the members of a ``MetricCollection`` table, nested ones included,
    for the config check; ``[]`` for any other table (and for one whose ``type`` does not resolve,
    which the check of the table itself reports)."""
    from customrun_core import registry

    if not isinstance(table, Mapping) or not isinstance(table.get("type"), str) or "metrics" not in table:
        return []
    try:
        factory = registry.resolve("metrics", table["type"])
    except ConfigError:
        return []
    metrics = table["metrics"]
    if not isinstance(factory, CollectionFactory) or not isinstance(metrics, list | Mapping):
        return []
    found: list[tuple[str, Any]] = []
    for member_key, member, _ in _members(metrics, f"{key}.metrics"):
        found += [(member_key, member), *member_tables(member, member_key)]
    return found
