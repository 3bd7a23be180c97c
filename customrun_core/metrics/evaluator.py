"""The evaluator: a list of metrics fed batch by batch, merged into one dict of results."""

from __future__ import annotations

from typing import Any

from customrun_core.build import build


def metric_tables(cfg: Any, key: str) -> list[tuple[str, Any]]:
    """(key path, table) of each metric of an evaluator config: one table or an array of them."""
    if cfg is None:
        return []
    if isinstance(cfg, list):
        return [(f"{key}[{i}]", table) for i, table in enumerate(cfg)]
    return [(key, cfg)]


class Evaluator:
    """Runs every metric of ``val_evaluator`` / ``test_evaluator`` (a table or an array of tables).

    Under torchrun each process sees its shard of the data. A metric with a
    ``sync(reduce)`` method gets its counts summed over the processes before ``compute``
    (``reduce`` takes a list of numbers and returns their element-wise sums), so every process
    reports the metric of the whole dataset. A metric without one is computed on rank 0's shard
    and broadcast, so every process still reports the same numbers.
    """

    def __init__(self, metrics: list[Any]) -> None:
        self.metrics = metrics

    @classmethod
    def from_config(cls, cfg: Any, key: str) -> Evaluator:
        return cls([build("metrics", table, key=k) for k, table in metric_tables(cfg, key)])

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
