"""EpochSummaryHook in tiny CPU runs: the logged means against the losses the model returned."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from customrun_core import Hook
from customrun_core.errors import ConfigError

from customrun_epoch_summary import EpochSummaryHook

# 2 training iterations per epoch (1,438 digits / 719)
FAST = ["train_dataloader.batch_size=719", "val_dataloader.batch_size=359", "default_hooks.logger=false"]


class Losses(Hook):
    """The loss of every training iteration, as the model returned it."""

    priority = "LOWEST"

    def __init__(self) -> None:
        self.seen: list[float] = []

    def after_train_iter(
        self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        self.seen.append(float(outputs["loss"]))


def test_each_epoch_logs_the_mean_of_its_losses(customrun_run: Callable[..., Any]) -> None:
    summary, losses = EpochSummaryHook(), Losses()
    result = customrun_run(
        hooks=[summary, losses], overrides=FAST, train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 2}
    )
    assert len(losses.seen) == 4
    expected = [sum(losses.seen[:2]) / 2, sum(losses.seen[2:]) / 2]
    assert len(summary.lines) == 2
    for epoch, (line, mean) in enumerate(zip(summary.lines, expected, strict=True), start=1):
        assert re.fullmatch(rf"epoch {epoch}: loss {mean:.4f}, 2 iterations in \d+\.\d s", line), line
    log = (result.work_dir / "run.log").read_text(encoding="utf-8")
    assert all(line in log for line in summary.lines)


def test_a_config_names_it(customrun_run: Callable[..., Any]) -> None:
    """Through the entry point, with a key the outputs lack: the line says so."""
    hooks = [{"type": "EpochSummaryHook", "keys": ["no_such_output"]}]
    result = customrun_run(custom_hooks=hooks, overrides=FAST)
    (summary,) = [hook for hook in result.runner.hooks.plugins if isinstance(hook, EpochSummaryHook)]
    assert summary.lines[0].startswith("epoch 1: no no_such_output, 2 iterations in ")


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ([], "expected a non-empty list of output names, got []"),  # the hook's own check
        ("loss", "expected an array of strings, got string 'loss'"),  # customrun's, from the annotation
    ],
)
def test_bad_keys_name_the_key(customrun_run: Callable[..., Any], keys: Any, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        customrun_run(custom_hooks=[{"type": "EpochSummaryHook", "keys": keys}])
    assert (info.value.key, info.value.message) == ("custom_hooks[0].keys", message)
