"""The evaluator: a list of metrics fed batch by batch, merged into one dict of results."""

from __future__ import annotations

from typing import Any

from customrun_core.build import build


class Evaluator:
    """Runs every metric of ``val_evaluator`` / ``test_evaluator`` (a table or an array of tables)."""

    def __init__(self, metrics: list[Any]) -> None:
        self.metrics = metrics

    @classmethod
    def from_config(cls, cfg: Any, key: str) -> Evaluator:
        tables = cfg if isinstance(cfg, list) else [cfg]
        key_of = (lambda i: f"{key}[{i}]") if isinstance(cfg, list) else (lambda i: key)
        return cls([build("metrics", table, key=key_of(i)) for i, table in enumerate(tables)])

    def reset(self) -> None:
        for metric in self.metrics:
            metric.reset()

    def process(self, data_batch: Any, outputs: Any) -> None:
        for metric in self.metrics:
            metric.process(data_batch, outputs)

    def evaluate(self) -> dict[str, float]:
        results: dict[str, float] = {}
        for metric in self.metrics:
            results.update(metric.compute())
        return results
