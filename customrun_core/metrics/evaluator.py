"""The evaluator: a list of metrics fed batch by batch, merged into one dict of results."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from customrun_core.build import build
from customrun_core.errors import ConfigError


def metric_tables(cfg: Any, key: str) -> list[tuple[str, Any]]:
    """(key path, table) of each metric of an evaluator config: one table or an array of them."""
    if cfg is None:
        return []
    if isinstance(cfg, list):
        return [(f"{key}[{i}]", table) for i, table in enumerate(cfg)]
    return [(key, cfg)]


def tables_to_check(cfg: Any, key: str) -> list[tuple[str, Any]]:
    """(key path, table) of every metric table the config check resolves: :func:`metric_tables`,
    then the members of each ``torchmetrics.MetricCollection`` among them (built by the collection)."""
    from customrun_core.metrics.torchmetrics_adapter import member_tables

    tables = metric_tables(cfg, key)
    return tables + [member for k, table in tables for member in member_tables(table, k)]


def as_metric(obj: Any) -> Any:
    """A built metric as the evaluator feeds it: a torchmetrics object in its adapter (logged
    under its class name in snake case), anything else as it is."""
    from customrun_core.metrics.torchmetrics_adapter import adapt, is_torchmetrics

    return adapt(obj) if is_torchmetrics(obj) else obj


class Evaluator:
    """Runs every metric of ``val_evaluator`` / ``test_evaluator`` (a table or an array of tables).

    Under torchrun each process sees its shard of the data. A metric with a
    ``sync(reduce)`` method gets its counts summed over the processes before ``compute``
    (``reduce`` takes a list of numbers and returns their element-wise sums), so every process
    reports the metric of the whole dataset. A metric without one is computed on rank 0's shard
    and broadcast, so every process still reports the same numbers. A torchmetrics metric
    (:class:`~customrun_core.metrics.torchmetrics_adapter.TorchMetric`) gathers its own states in
    ``compute()``; its ``sync`` does nothing, so its result is neither summed twice nor rank 0's.
    """

    def __init__(self, metrics: list[Any]) -> None:
        self.metrics = [as_metric(m) for m in metrics]

    @classmethod
    def from_config(cls, cfg: Any, key: str, built: Mapping[str, Any] | None = None) -> Evaluator:
        """Build every metric of ``cfg`` (tables; a built metric object, in ``cfg`` or in ``built``
        by key path as :mod:`customrun_core.config.built` takes it out, is taken as it is).

        Raises:
            ConfigError: a metric's table is wrong, or two torchmetrics metrics would log under
                one name.
        """
        from customrun_core.metrics.torchmetrics_adapter import TorchMetric

        metrics = []
        names: dict[str, str] = {}
        for k, table in metric_tables(cfg, key):
            given = (built or {}).get(k, table)
            metric = as_metric(build("metrics", given, key=k) if isinstance(given, Mapping | str) else given)
            name = metric.name if isinstance(metric, TorchMetric) else ""
            if name and name in names:
                raise ConfigError(
                    f"{names[name]} already logs its results under {name!r}; give one of them a name", key=k
                )
            names[name] = k
            metrics.append(metric)
        return cls(metrics)

    def reset(self) -> None:
        for metric in self.metrics:
            metric.reset()

    def process(self, data_batch: Any, outputs: Any) -> None:
        for metric in self.metrics:
            metric.process(data_batch, outputs)

    def evaluate(self) -> dict[str, float]:
        from customrun_core import distributed

        results: dict[str, float] = {}
        for metric in self.metrics:
            if hasattr(metric, "sync"):
                metric.sync(distributed.all_reduce_sum)
                results.update(metric.compute())
            else:
                results.update(distributed.broadcast_object(metric.compute()))
        return results
