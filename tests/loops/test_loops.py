"""The training loops (reference section 2): validation schedule, counters, data cycling, checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from customrun_core import Hook, Runner, register, registry
from customrun_core.errors import ConfigError
from customrun_core.testing import tiny_config


class Trace(Hook):
    """Records (point, runner.epoch, runner.iter[, batch_idx]) and what the train batches hold."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.batches: list[float] = []  # sum of each training batch's inputs: tells batches apart
        self.sizes: list[tuple[int, int]] = []  # (max_epochs, max_iters) seen at before_train

    def _add(self, point: str, runner: Any, *extra: int) -> None:
        self.calls.append((point, runner.epoch, runner.iter, *extra))

    def before_run(self, runner: Any) -> None:
        self._add("before_run", runner)

    def before_train(self, runner: Any) -> None:
        self._add("before_train", runner)
        self.sizes.append((runner.max_epochs, runner.max_iters))

    def before_train_epoch(self, runner: Any) -> None:
        self._add("before_train_epoch", runner)

    def before_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None) -> None:
        self._add("before_train_iter", runner, batch_idx)
        self.batches.append(float(data_batch[0].sum()))

    def after_train_iter(
        self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        self._add("after_train_iter", runner, batch_idx)

    def after_train_epoch(self, runner: Any) -> None:
        self._add("after_train_epoch", runner)

    def before_val(self, runner: Any) -> None:
        self._add("before_val", runner)

    def after_val(self, runner: Any) -> None:
        self._add("after_val", runner)

    def before_save_checkpoint(self, runner: Any, checkpoint: dict) -> None:
        self._add("before_save_checkpoint", runner)

    def after_train(self, runner: Any) -> None:
        self._add("after_train", runner)

    def after_run(self, runner: Any) -> None:
        self._add("after_run", runner)

    def points(self, point: str) -> list[tuple[Any, ...]]:
        return [c[1:] for c in self.calls if c[0] == point]


@pytest.fixture(autouse=True)
def _trace_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """``type = "Trace"`` for this test only (the process-wide registry is restored afterwards)."""
    monkeypatch.setitem(registry._registered, "hooks", dict(registry._registered["hooks"]))
    register("hooks")(Trace)


def train(batches_per_epoch: int = 2, **changes: Any) -> tuple[Runner, Trace]:
    """Train tiny_config with a Trace hook; ``batches_per_epoch`` of the 1,438 train images (no shuffling)."""
    changes.setdefault("default_hooks", {"logger": False})
    cfg = tiny_config(custom_hooks=[{"type": "Trace"}], **changes)
    cfg["train_dataloader"].update(batch_size={1: 1438, 2: 719}[batches_per_epoch], shuffle=False)
    cfg["val_dataloader"]["batch_size"] = 359  # one validation batch
    runner = Runner.from_config(cfg)
    runner.train()
    trace = next(h for h in runner.hooks.plugins if isinstance(h, Trace))
    return runner, trace


# -- EpochBasedTrainLoop --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("max_epochs", "val_begin", "val_interval", "validated_after"),
    [
        (5, 1, 2, [2, 4, 5]),  # the last epoch is always validated
        (6, 2, 2, [2, 4, 6]),
        (3, 1, 1, [1, 2, 3]),
        (4, 2, 3, [3, 4]),
        (2, 3, 1, []),  # val_begin after the end: never
    ],
)
def test_epoch_loop_validation_schedule(
    max_epochs: int, val_begin: int, val_interval: int, validated_after: list[int]
) -> None:
    train_cfg = {"type": "EpochBasedTrainLoop", "max_epochs": max_epochs, "val_begin": val_begin}
    _, trace = train(1, train_cfg={**train_cfg, "val_interval": val_interval})
    # runner.epoch during validation is the number of finished epochs (1 iteration per epoch here)
    assert trace.points("before_val") == [(n, n) for n in validated_after]


def test_epoch_loop_counters() -> None:
    runner, trace = train(2, train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 3})
    assert trace.sizes == [(3, 6)]  # max_iters = max_epochs * len(dataloader)
    assert (runner.epoch, runner.iter, runner.max_epochs, runner.max_iters) == (3, 6, 3, 6)
    # batch_idx restarts every epoch, runner.iter counts on
    assert trace.points("before_train_iter") == [
        (0, 0, 0),
        (0, 1, 1),
        (1, 2, 0),
        (1, 3, 1),
        (2, 4, 0),
        (2, 5, 1),
    ]
    assert trace.points("before_train_epoch") == [(0, 0), (1, 2), (2, 4)]
    assert trace.points("after_train_epoch") == [(0, 2), (1, 4), (2, 6)]


def test_epoch_loop_without_validation() -> None:
    cfg: dict[str, Any] = {"train_cfg": {"type": "EpochBasedTrainLoop", "max_epochs": 2}}
    cfg.update(val_dataloader=None, val_evaluator=None)
    cfg_full = tiny_config(custom_hooks=[{"type": "Trace"}], **cfg)
    cfg_full["train_dataloader"]["batch_size"] = 1438
    runner = Runner.from_config(cfg_full)
    runner.train()
    trace = next(h for h in runner.hooks.plugins if isinstance(h, Trace))
    assert trace.points("before_val") == []
    assert (runner.epoch, runner.iter) == (2, 2)


# -- IterBasedTrainLoop ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("val_begin", "validated_after"),
    [(1, [3, 6, 7]), (4, [6, 7])],  # [ran] max_iters=7, val_interval=3
)
def test_iter_loop_validation_schedule(val_begin: int, validated_after: list[int]) -> None:
    train_cfg = {"type": "IterBasedTrainLoop", "max_iters": 7, "val_interval": 3, "val_begin": val_begin}
    _, trace = train(2, train_cfg=train_cfg)
    assert trace.points("before_val") == [(0, n) for n in validated_after]


def test_type_and_by_epoch_false_together_are_refused() -> None:
    cfg = tiny_config(train_cfg={"type": "IterBasedTrainLoop", "by_epoch": False, "max_iters": 3})
    with pytest.raises(ConfigError) as info:
        Runner.from_config(cfg)
    assert info.value.key == "train_cfg.by_epoch"


def test_by_epoch_false_picks_the_iter_loop() -> None:
    runner, trace = train(2, train_cfg={"by_epoch": False, "max_iters": 3, "val_interval": 2})
    assert type(runner.train_loop).__name__ == "IterBasedTrainLoop"
    assert trace.points("before_val") == [(0, 2), (0, 3)]


def test_iter_loop_one_epoch_global_batch_idx_and_cycling() -> None:
    runner, trace = train(2, train_cfg={"type": "IterBasedTrainLoop", "max_iters": 5, "val_interval": 100})
    assert trace.sizes == [(1, 5)]
    assert (runner.epoch, runner.iter, runner.max_epochs, runner.max_iters) == (0, 5, 1, 5)
    assert trace.points("before_train_epoch") == [(0, 0)]
    assert trace.points("after_train_epoch") == [(0, 5)]
    # batch_idx is the global iteration; runner.epoch stays 0
    assert trace.points("before_train_iter") == [(0, i, i) for i in range(5)]
    # 2 batches per pass, no shuffling: iterations 2 and 4 start new passes over the same data
    first, second, *rest = trace.batches
    assert first != second
    assert rest == [first, second, first]


def test_iter_loop_firing_order() -> None:
    """Reference 1.4/2: one before/after_train_epoch around all iterations; validation after iterations."""
    _, trace = train(
        2,
        train_cfg={"type": "IterBasedTrainLoop", "max_iters": 3, "val_interval": 2},
        default_hooks={"logger": False, "checkpoint": {"by_epoch": False, "interval": 2}},
    )
    assert trace.calls == [
        ("before_run", 0, 0),
        ("before_train", 0, 0),
        ("before_train_epoch", 0, 0),
        ("before_train_iter", 0, 0, 0), ("after_train_iter", 0, 0, 0),
        ("before_train_iter", 0, 1, 1), ("after_train_iter", 0, 1, 1),
        ("before_save_checkpoint", 0, 1),  # iter_2.pt, from CheckpointHook's after_train_iter
        ("before_val", 0, 2), ("after_val", 0, 2),
        ("before_train_iter", 0, 2, 2), ("after_train_iter", 0, 2, 2),
        ("before_save_checkpoint", 0, 2),  # iter_3.pt: the last iteration (save_last)
        ("before_val", 0, 3), ("after_val", 0, 3),  # iter == max_iters
        ("after_train_epoch", 0, 3),
        ("after_train", 0, 3),
        ("after_run", 0, 3),
    ]  # fmt: skip


# -- checkpoints ----------------------------------------------------------------------------------


def saved(work_dir: Path) -> list[str]:
    return sorted(p.name for p in work_dir.iterdir() if p.suffix == ".pt")


def load(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.mark.parametrize(
    ("checkpoint", "files"),
    [
        ({}, ["epoch_1.pt", "epoch_2.pt", "epoch_3.pt"]),
        ({"interval": 2}, ["epoch_2.pt", "epoch_3.pt"]),  # the last epoch is saved too
        ({"interval": 2, "save_last": False}, ["epoch_2.pt"]),
        ({"max_keep_ckpts": 2}, ["epoch_2.pt", "epoch_3.pt"]),  # the oldest is removed
        ({"max_keep_ckpts": 1}, ["epoch_3.pt"]),
    ],
)
def test_epoch_checkpoints(tmp_path: Path, checkpoint: dict[str, Any], files: list[str]) -> None:
    train(
        2,
        train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 3},
        default_hooks={"logger": False, "checkpoint": checkpoint},
    )
    work = tmp_path / "work"
    assert saved(work) == files
    assert (work / "last_checkpoint").read_text() == files[-1]


def test_epoch_checkpoint_contents(tmp_path: Path) -> None:
    train(2, train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 3})
    checkpoint = load(tmp_path / "work" / "epoch_2.pt")  # plain data: weights_only=True loads it
    assert {"meta", "state_dict", "optimizer", "param_schedulers"} <= set(checkpoint)
    assert (checkpoint["meta"]["epoch"], checkpoint["meta"]["iter"]) == (2, 4)  # epoch = runner.epoch + 1
    assert "backbone.1.weight" in checkpoint["state_dict"]


def test_iter_checkpoints_hold_post_step_scheduler_state(tmp_path: Path) -> None:
    """by_epoch=false: iter_N.pt; ParamSchedulerHook (LOW) steps before CheckpointHook (VERY_LOW).

    StepLR(step_size=1, gamma=0.5) from lr 0.1: after 2 iterations the lr is 0.1 * 0.5**2 = 0.025.
    """
    train(
        2,
        train_cfg={"type": "IterBasedTrainLoop", "max_iters": 5, "val_interval": 100},
        param_scheduler=[{"type": "StepLR", "step_size": 1, "gamma": 0.5, "by_epoch": False}],
        default_hooks={"logger": False, "checkpoint": {"by_epoch": False, "interval": 2}},
    )
    work = tmp_path / "work"
    assert saved(work) == ["iter_2.pt", "iter_4.pt", "iter_5.pt"]
    assert (work / "last_checkpoint").read_text() == "iter_5.pt"
    checkpoint = load(work / "iter_2.pt")
    assert (checkpoint["meta"]["epoch"], checkpoint["meta"]["iter"]) == (0, 2)  # iter = runner.iter + 1
    assert checkpoint["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.025)
    assert checkpoint["param_schedulers"][0]["last_step"] == 2


def test_iter_checkpoints_max_keep(tmp_path: Path) -> None:
    train(
        2,
        train_cfg={"type": "IterBasedTrainLoop", "max_iters": 4, "val_interval": 100},
        default_hooks={
            "logger": False,
            "checkpoint": {"by_epoch": False, "interval": 1, "max_keep_ckpts": 2},
        },
    )
    assert saved(tmp_path / "work") == ["iter_3.pt", "iter_4.pt"]
