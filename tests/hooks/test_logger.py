"""LoggerHook: each record it writes to scalars.jsonl goes to after_log_record, as it is, on rank 0."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from customrun_core import Hook
from customrun_core.hooks.logger import LoggerHook


class Collector(Hook):
    """Keeps a copy of every record ``after_log_record`` hands over, with the hook point it came in."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def after_log_record(self, runner: Any, record: dict[str, Any]) -> None:
        self.records.append(copy.deepcopy(record))


class Diverges(Hook):
    """Records non-finite values before the LoggerHook reads them: inf, -inf and NaN in one window."""

    priority = "VERY_HIGH"

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if runner.iter == 2:
            runner.scalars.update("grad_norm", math.inf)
            runner.scalars.set_latest("scale", -math.inf)
        if runner.iter == 12:
            runner.scalars.update("grad_norm", math.nan)


def _same(value: Any, line_value: Any) -> bool:
    """A received value against the file's: equal, or non-finite where the file has null."""
    if isinstance(value, float) and not math.isfinite(value):
        return line_value is None
    return value == line_value


def test_after_log_record_gets_exactly_the_records_of_scalars_jsonl(customrun_run) -> None:
    collector = Collector()
    result = customrun_run(
        hooks=[collector, Diverges()],
        train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 2},
        default_hooks={"logger": {"interval": 5}},
    )
    result.runner.test()
    lines = [json.loads(line) for line in (result.work_dir / "scalars.jsonl").read_text().splitlines()]
    # 23 iterations an epoch: every 5 and at each epoch's end, a validation per epoch, one test
    steps = [5, 10, 15, 20, 23, 23, 28, 33, 38, 43, 46, 46, 46]
    assert [(r["mode"], r["step"]) for r in lines] == [
        ("val" if i in (5, 11) else "test" if i == 12 else "train", step) for i, step in enumerate(steps)
    ]
    assert len(collector.records) == len(lines)
    for record, line in zip(collector.records, lines, strict=True):
        assert list(record) == list(line)  # the same keys, in the same order
        assert all(_same(record[key], line[key]) for key in line), (record, line)
    first, third = collector.records[0], collector.records[2]
    assert first["grad_norm"] == math.inf and first["scale"] == -math.inf  # as recorded, not null
    assert math.isnan(third["grad_norm"])
    assert lines[0]["grad_norm"] is None and lines[2]["grad_norm"] is None
    assert len(result.calls_to("after_log_record")) == len(lines)  # fired once a record


def test_only_rank_0_writes_and_fires(tmp_path: Path) -> None:
    fired: list[tuple[str, dict[str, Any]]] = []
    runner = SimpleNamespace(
        rank=1, work_dir=tmp_path, epoch=0, iter=0, val_loop=SimpleNamespace(dataloader=[0, 1]),
        logger=SimpleNamespace(info=lambda line: None),
        call_hook=lambda point, **kwargs: fired.append((point, kwargs)),
    )  # fmt: skip
    LoggerHook().after_val_epoch(runner, {"accuracy/top1": 50.0})
    assert fired == [] and not (tmp_path / "scalars.jsonl").exists()
    runner.rank = 0
    LoggerHook().after_val_epoch(runner, {"accuracy/top1": 50.0})
    record = {"mode": "val", "step": 0, "epoch": 0, "accuracy/top1": 50.0}
    assert fired == [("after_log_record", {"record": record})]
    assert json.loads((tmp_path / "scalars.jsonl").read_text()) == record
