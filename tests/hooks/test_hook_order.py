"""Hooks of a real run fire in MMEngine's order (reference sections 1.2-1.4).

The hooks under test come from a separate test distribution (``customrun-order-probe``): a module
and a ``.dist-info`` folder with ``customrun.hooks`` entry points, put on ``sys.path`` by the
``customrun_distribution`` fixture; nothing in customrun is edited to find them. Where a test runs
through ``customrun_run``, the run's own record of hook calls must agree with what the hook saw.
"""

from __future__ import annotations

import functools
import importlib
import itertools
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from customrun_core import Runner
from customrun_core.errors import ConfigError, HookError
from customrun_core.hooks.checkpoint import CheckpointHook
from customrun_core.hooks.iter_timer import IterTimerHook
from customrun_core.hooks.logger import LoggerHook
from customrun_core.hooks.param_scheduler import ParamSchedulerHook
from customrun_core.hooks.runtime_info import RuntimeInfoHook
from customrun_core.hooks.sampler_seed import DistSamplerSeedHook
from customrun_core.testing import tiny_config

PROBE_SOURCE = '''
"""Recording hooks of the test distribution customrun-order-probe."""

from customrun_core import Hook

CALLS = []  # (point, runner.epoch, runner.iter[, batch_idx]) of every Recorder call
LOG = []  # (point, tag) of every Recorder call, in call order
LRS = []  # (tag, point, runner.iter, lr of the first param group)
MISSING = []  # (point, argument) that arrived as None although the hook point passes a value


class Recorder(Hook):
    """Implements all 23 hook points; ``tag`` tells instances apart."""

    def __init__(self, tag="Recorder"):
        self.tag = tag

    def _record(self, point, runner, batch_idx=None, **values):
        entry = (point, runner.epoch, runner.iter)
        CALLS.append(entry if batch_idx is None else (*entry, batch_idx))
        LOG.append((point, self.tag))
        MISSING.extend((point, name) for name, value in values.items() if value is None)

    def _record_lr(self, point, runner):
        LRS.append((self.tag, point, runner.iter, runner.optim_wrapper.get_lr()["lr"][0]))

    def before_run(self, runner):
        self._record("before_run", runner)

    def after_load_checkpoint(self, runner, checkpoint):
        self._record("after_load_checkpoint", runner, checkpoint=checkpoint)

    def before_train(self, runner):
        self._record("before_train", runner)

    def before_train_epoch(self, runner):
        self._record("before_train_epoch", runner)

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self._record("before_train_iter", runner, batch_idx, data_batch=data_batch)
        self._record_lr("before_train_iter", runner)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self._record("after_train_iter", runner, batch_idx, data_batch=data_batch, outputs=outputs)
        self._record_lr("after_train_iter", runner)

    def after_log_record(self, runner, record):
        self._record("after_log_record", runner, record=record)

    def after_train_epoch(self, runner):
        self._record("after_train_epoch", runner)

    def before_val(self, runner):
        self._record("before_val", runner)

    def before_val_epoch(self, runner):
        self._record("before_val_epoch", runner)

    def before_val_iter(self, runner, batch_idx, data_batch=None):
        self._record("before_val_iter", runner, batch_idx, data_batch=data_batch)

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self._record("after_val_iter", runner, batch_idx, data_batch=data_batch, outputs=outputs)

    def after_val_epoch(self, runner, metrics=None):
        self._record("after_val_epoch", runner, metrics=metrics)

    def after_val(self, runner):
        self._record("after_val", runner)

    def before_save_checkpoint(self, runner, checkpoint):
        self._record("before_save_checkpoint", runner, checkpoint=checkpoint)

    def after_train(self, runner):
        self._record("after_train", runner)

    def before_test(self, runner):
        self._record("before_test", runner)

    def before_test_epoch(self, runner):
        self._record("before_test_epoch", runner)

    def before_test_iter(self, runner, batch_idx, data_batch=None):
        self._record("before_test_iter", runner, batch_idx, data_batch=data_batch)

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self._record("after_test_iter", runner, batch_idx, data_batch=data_batch, outputs=outputs)

    def after_test_epoch(self, runner, metrics=None):
        self._record("after_test_epoch", runner, metrics=metrics)

    def after_test(self, runner):
        self._record("after_test", runner)

    def after_run(self, runner):
        self._record("after_run", runner)


class TypoHook(Hook):
    def before_train_itr(self, runner, batch_idx, data_batch=None):
        pass


class LrRec(Recorder):
    """A Recorder whose class says HIGHEST."""

    priority = "HIGHEST"
'''

# The 22 hook points of reference section 1.1, and after_log_record (customrun's, fired by LoggerHook).
ALL_POINTS = {
    "before_run", "after_load_checkpoint", "before_train", "before_train_epoch", "before_train_iter",
    "after_train_iter", "after_log_record", "after_train_epoch", "before_val", "before_val_epoch",
    "before_val_iter", "after_val_iter", "after_val_epoch", "after_val", "before_save_checkpoint",
    "after_train", "before_test", "before_test_epoch", "before_test_iter", "after_test_iter",
    "after_test_epoch", "after_test", "after_run",
}  # fmt: skip

DEFAULT_CLASSES = (
    RuntimeInfoHook, IterTimerHook, DistSamplerSeedHook, LoggerHook, ParamSchedulerHook, CheckpointHook,
)  # fmt: skip

# Reference 1.3: the default hooks alone, in call order.
DEFAULTS = [
    "RuntimeInfoHook", "IterTimerHook", "DistSamplerSeedHook", "LoggerHook", "ParamSchedulerHook", "CheckpointHook",
]  # fmt: skip


@pytest.fixture
def probe(customrun_distribution: Callable[..., Any]) -> ModuleType:
    """Install customrun-order-probe and return its (fresh) module."""
    customrun_distribution(
        "customrun-order-probe",
        entry_points={
            "customrun.hooks": {
                "Recorder": "order_probe:Recorder",
                "LrRec": "order_probe:LrRec",
                "TypoHook": "order_probe:TypoHook",
            }
        },
        modules={"order_probe.py": PROBE_SOURCE},
    )
    return importlib.import_module("order_probe")


def two_batch_config(**changes: Any) -> dict[str, Any]:
    """tiny_config with 2 training batches per epoch (1,438 train images / 719) and 1 val/test batch (359)."""
    cfg = tiny_config(**changes)
    cfg["train_dataloader"]["batch_size"] = 719
    cfg["val_dataloader"]["batch_size"] = 359
    cfg["test_dataloader"]["batch_size"] = 359
    return cfg


def label(hook: Any) -> str:
    return getattr(hook, "tag", type(hook).__name__)


def labels(runner: Runner) -> list[str]:
    """The registered hooks in priority order (Recorders by tag)."""
    return [label(h) for h in runner.hooks.plugins]


def spy_on_defaults(monkeypatch: pytest.MonkeyPatch, log: list[tuple[str, str]]) -> None:
    """Make every hook-point method of the default hook classes append (point, class name) to ``log``."""
    for cls in DEFAULT_CLASSES:
        for point in ALL_POINTS & set(vars(cls)):
            original = vars(cls)[point]

            @functools.wraps(original)
            def spy(
                self: Any, *args: Any, __original: Any = original, __point: str = point, **kwargs: Any
            ) -> Any:
                log.append((__point, type(self).__name__))
                return __original(self, *args, **kwargs)

            monkeypatch.setattr(cls, point, spy)


def runs(log: list[tuple[str, str]], point: str) -> list[list[str]]:
    """The names of each consecutive block of calls of ``point`` (one block per firing), across the
    ``after_log_record`` calls that LoggerHook fires in the middle of a firing of another point."""
    log = [entry for entry in log if entry[0] in (point, *ALL_POINTS - {"after_log_record"})]
    return [
        [name for _, name in group]
        for key, group in itertools.groupby(log, key=lambda e: e[0])
        if key == point
    ]


# -- requirement: a distribution's hook fires at every point, in MMEngine's order ------------------


def test_distribution_hook_fires_in_mmengine_order(probe: ModuleType, customrun_run: Any) -> None:
    """Reference 1.4 [ran]: epoch loop, 2 iters/epoch, 3 epochs, validation every epoch."""
    cfg = two_batch_config(
        train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 3, "val_interval": 1},
        custom_hooks=[{"type": "Recorder"}],
    )
    result = customrun_run(cfg)
    assert probe.CALLS == [
        ("before_run", 0, 0),
        ("before_train", 0, 0),
        # epoch 0
        ("before_train_epoch", 0, 0),
        ("before_train_iter", 0, 0, 0), ("after_train_iter", 0, 0, 0),
        ("before_train_iter", 0, 1, 1), ("after_train_iter", 0, 1, 1),
        ("after_log_record", 0, 1),  # LoggerHook (BELOW_NORMAL) logs the epoch's last iteration
        ("after_train_epoch", 0, 2),  # epoch not yet incremented, iter already 2
        ("before_save_checkpoint", 0, 2),  # CheckpointHook (VERY_LOW) inside after_train_epoch
        ("before_val", 1, 2), ("before_val_epoch", 1, 2),
        ("before_val_iter", 1, 2, 0), ("after_val_iter", 1, 2, 0),
        ("after_val_epoch", 1, 2), ("after_log_record", 1, 2),  # LoggerHook logs the metrics
        ("after_val", 1, 2),  # epoch already incremented during val
        # epoch 1
        ("before_train_epoch", 1, 2),
        ("before_train_iter", 1, 2, 0), ("after_train_iter", 1, 2, 0),
        ("before_train_iter", 1, 3, 1), ("after_train_iter", 1, 3, 1), ("after_log_record", 1, 3),
        ("after_train_epoch", 1, 4),
        ("before_save_checkpoint", 1, 4),
        ("before_val", 2, 4), ("before_val_epoch", 2, 4),
        ("before_val_iter", 2, 4, 0), ("after_val_iter", 2, 4, 0),
        ("after_val_epoch", 2, 4), ("after_log_record", 2, 4), ("after_val", 2, 4),
        # epoch 2
        ("before_train_epoch", 2, 4),
        ("before_train_iter", 2, 4, 0), ("after_train_iter", 2, 4, 0),
        ("before_train_iter", 2, 5, 1), ("after_train_iter", 2, 5, 1), ("after_log_record", 2, 5),
        ("after_train_epoch", 2, 6),
        ("before_save_checkpoint", 2, 6),
        ("before_val", 3, 6), ("before_val_epoch", 3, 6),
        ("before_val_iter", 3, 6, 0), ("after_val_iter", 3, 6, 0),
        ("after_val_epoch", 3, 6), ("after_log_record", 3, 6), ("after_val", 3, 6),
        ("after_train", 3, 6),
        ("after_run", 3, 6),
    ]  # fmt: skip
    assert probe.MISSING == []  # data_batch, outputs, metrics and checkpoint all arrived
    assert [call.brief for call in result.calls] == probe.CALLS  # the run made no call the hook missed


@pytest.mark.parametrize("mode", ["val", "test"])
def test_distribution_hook_fires_in_val_and_test_runs(
    probe: ModuleType, customrun_run: Any, mode: str
) -> None:
    """``runner.val()``/``test()`` wrap their loop in before_run/after_run; load_from fires after_load_checkpoint."""
    customrun_run(two_batch_config(default_hooks={"logger": False}))  # writes work/epoch_1.pt
    probe.CALLS.clear()
    cfg = two_batch_config(custom_hooks=[{"type": "Recorder"}], load_from="work/epoch_1.pt")
    result = customrun_run(cfg, mode=mode)
    calls = probe.CALLS
    assert calls == [
        ("before_run", 0, 0),
        ("after_load_checkpoint", 0, 0),
        (f"before_{mode}", 0, 0), (f"before_{mode}_epoch", 0, 0),
        (f"before_{mode}_iter", 0, 0, 0), (f"after_{mode}_iter", 0, 0, 0),
        (f"after_{mode}_epoch", 0, 0), ("after_log_record", 0, 0), (f"after_{mode}", 0, 0),
        ("after_run", 0, 0),
    ]  # fmt: skip
    assert probe.MISSING == []
    assert [call.brief for call in result.calls] == calls


def test_every_hook_point_fires(probe: ModuleType, customrun_run: Any) -> None:
    """Training, then test with load_from: together they reach all 22 hook points of reference 1.1
    and after_log_record."""
    cfg = two_batch_config(custom_hooks=[{"type": "Recorder"}])
    train = customrun_run(cfg)
    test = customrun_run(cfg, mode="test", load_from="work/epoch_1.pt")
    assert {call[0] for call in probe.CALLS} == ALL_POINTS
    assert set(train.points) | set(test.points) == ALL_POINTS


@pytest.mark.parametrize(
    ("priority", "expected"),
    [
        ("HIGHEST", ["probe", *DEFAULTS]),
        ("ABOVE_NORMAL", ["RuntimeInfoHook", "probe", "IterTimerHook", "DistSamplerSeedHook", "LoggerHook",
                          "ParamSchedulerHook", "CheckpointHook"]),
        (None, ["RuntimeInfoHook", "IterTimerHook", "DistSamplerSeedHook", "probe", "LoggerHook",
                "ParamSchedulerHook", "CheckpointHook"]),
        ("LOW", [*DEFAULTS[:5], "probe", "CheckpointHook"]),  # ties with ParamSchedulerHook: after it
        ("LOWEST", [*DEFAULTS, "probe"]),
    ],
)  # fmt: skip
def test_distribution_hook_priority_among_defaults(
    probe: ModuleType, monkeypatch: pytest.MonkeyPatch, priority: str | None, expected: list[str]
) -> None:
    hook: dict[str, Any] = {"type": "Recorder", "tag": "probe"}
    if priority is not None:
        hook["priority"] = priority
    spy_on_defaults(monkeypatch, probe.LOG)  # before the runner registers the (bound) methods
    runner = Runner.from_config(two_batch_config(custom_hooks=[hook]))
    assert labels(runner) == expected
    runner.train()
    # after_train_iter is implemented by every hook here except DistSamplerSeedHook
    assert runs(probe.LOG, "after_train_iter")[0] == [n for n in expected if n != "DistSamplerSeedHook"]


# -- requirement: priorities (reference 1.2 and the [ran] final order of 1.3) ----------------------

RAN_HOOKS = [
    {"type": "Recorder", "tag": "Rec(ABOVE_NORMAL)", "priority": "ABOVE_NORMAL"},
    {"type": "LrRec", "tag": "LrRec"},
    {"type": "Recorder", "tag": "Rec(NORMAL)"},
]
RAN_ORDER = [
    "LrRec", "RuntimeInfoHook", "Rec(ABOVE_NORMAL)", "IterTimerHook", "DistSamplerSeedHook", "Rec(NORMAL)",
    "LoggerHook", "ParamSchedulerHook", "CheckpointHook",
]  # fmt: skip


def test_ran_final_order_in_the_manager(probe: ModuleType) -> None:
    runner = Runner.from_config(two_batch_config(custom_hooks=RAN_HOOKS))
    assert labels(runner) == RAN_ORDER
    table = runner.hooks.order()
    after_iter = [(name.split("#")[0], priority) for name, priority in table["after_train_iter"]]
    assert after_iter == [
        ("LrRec", "HIGHEST"),
        ("RuntimeInfoHook", "VERY_HIGH"),
        ("Recorder", "ABOVE_NORMAL"),
        ("IterTimerHook", "NORMAL"),
        ("Recorder", "NORMAL"),
        ("LoggerHook", "BELOW_NORMAL"),
        ("ParamSchedulerHook", "LOW"),
        ("CheckpointHook", "VERY_LOW"),
    ]
    assert [name.split("#")[0] for name, _ in table["before_train_epoch"]] == [
        "LrRec", "Recorder", "IterTimerHook", "DistSamplerSeedHook", "Recorder",
    ]  # fmt: skip


def test_ran_final_order_at_run_time(probe: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    spy_on_defaults(monkeypatch, probe.LOG)
    cfg = two_batch_config(custom_hooks=RAN_HOOKS, train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 2})
    Runner.from_config(cfg).train()
    every_iter = runs(probe.LOG, "after_train_iter")
    assert len(every_iter) == 4
    assert all(names == [n for n in RAN_ORDER if n != "DistSamplerSeedHook"] for names in every_iter)
    assert (
        runs(probe.LOG, "before_train_epoch")
        == [["LrRec", "Rec(ABOVE_NORMAL)", "IterTimerHook", "DistSamplerSeedHook", "Rec(NORMAL)"]] * 2
    )
    assert (
        runs(probe.LOG, "after_train_epoch")
        == [["LrRec", "Rec(ABOVE_NORMAL)", "Rec(NORMAL)", "ParamSchedulerHook", "CheckpointHook"]] * 2
    )
    # every firing of every point, default hooks included, follows the one priority order
    for point in ALL_POINTS:
        for names in runs(probe.LOG, point):
            assert names == sorted(names, key=RAN_ORDER.index), point


def test_normal_hook_sees_the_lr_the_step_used(probe: ModuleType) -> None:
    """ParamSchedulerHook (LOW) steps after NORMAL hooks in after_train_iter.

    StepLR(step_size=1, gamma=0.5, by_epoch=false) from lr 0.1: iteration k trains with 0.1 * 0.5**k.
    """
    cfg = two_batch_config(
        train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 2},
        param_scheduler=[{"type": "StepLR", "step_size": 1, "gamma": 0.5, "by_epoch": False}],
        custom_hooks=[
            {"type": "Recorder", "tag": "normal"},
            {"type": "Recorder", "tag": "late", "priority": "LOWEST"},
        ],
    )
    Runner.from_config(cfg).train()

    def lrs(tag: str, point: str) -> tuple[list[int], list[float]]:
        seen = [(it, lr) for t, p, it, lr in probe.LRS if (t, p) == (tag, point)]
        return [it for it, _ in seen], [lr for _, lr in seen]

    used = [0.1, 0.05, 0.025, 0.0125]
    assert lrs("normal", "before_train_iter") == ([0, 1, 2, 3], pytest.approx(used))
    assert lrs("normal", "after_train_iter") == ([0, 1, 2, 3], pytest.approx(used))
    # after ParamSchedulerHook the next iteration's lr is in place; the window ends at max_iters (4,
    # MMEngine's default end), so the step after the last iteration changes nothing
    assert lrs("late", "after_train_iter") == ([0, 1, 2, 3], pytest.approx([0.05, 0.025, 0.0125, 0.0125]))


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param(  # config priority beats the class attribute (LrRec says HIGHEST)
            {"custom_hooks": [{"type": "LrRec", "tag": "lr", "priority": "LOWEST"}]},
            [*DEFAULTS, "lr"],
            id="config-priority-overrides-class",
        ),
        pytest.param(  # 49 runs just before the NORMAL hooks (EMAHook's priority in mmdet)
            {"custom_hooks": [{"type": "Recorder", "tag": "n"}, {"type": "Recorder", "tag": "p49", "priority": 49}]},
            ["RuntimeInfoHook", "p49", "IterTimerHook", "DistSamplerSeedHook", "n", "LoggerHook",
             "ParamSchedulerHook", "CheckpointHook"],
            id="int-49",
        ),
        pytest.param(  # ties: registration order; defaults are registered before custom hooks
            {"custom_hooks": [
                {"type": "Recorder", "tag": "a"},
                {"type": "Recorder", "tag": "b"},
                {"type": "Recorder", "tag": "c", "priority": "VERY_LOW"},
                {"type": "Recorder", "tag": "d", "priority": 10},
            ]},
            ["RuntimeInfoHook", "d", "IterTimerHook", "DistSamplerSeedHook", "a", "b", "LoggerHook",
             "ParamSchedulerHook", "CheckpointHook", "c"],
            id="ties-fifo",
        ),
        pytest.param(
            {"default_hooks": {"timer": False, "sampler_seed": False}},
            ["RuntimeInfoHook", "LoggerHook", "ParamSchedulerHook", "CheckpointHook"],
            id="false-removes",
        ),
        pytest.param(  # a table with type replaces the default; the new hook keeps its own priority
            {"default_hooks": {"logger": {"type": "Recorder", "tag": "logger"}}},
            ["RuntimeInfoHook", "IterTimerHook", "DistSamplerSeedHook", "logger", "ParamSchedulerHook",
             "CheckpointHook"],
            id="type-replaces",
        ),
        pytest.param(
            {"default_hooks": {"logger": {"type": "Recorder", "tag": "logger", "priority": "BELOW_NORMAL"}}},
            ["RuntimeInfoHook", "IterTimerHook", "DistSamplerSeedHook", "logger", "ParamSchedulerHook",
             "CheckpointHook"],
            id="type-replaces-with-priority",
        ),
        pytest.param(  # a new key adds a hook after the defaults, before custom hooks
            {"default_hooks": {"extra": {"type": "Recorder", "tag": "extra"}},
             "custom_hooks": [{"type": "Recorder", "tag": "custom"}]},
            ["RuntimeInfoHook", "IterTimerHook", "DistSamplerSeedHook", "extra", "custom", "LoggerHook",
             "ParamSchedulerHook", "CheckpointHook"],
            id="new-key-adds",
        ),
    ],
)  # fmt: skip
def test_config_places_hooks(probe: ModuleType, changes: dict[str, Any], expected: list[str]) -> None:
    assert labels(Runner.from_config(two_batch_config(**changes))) == expected


def test_table_without_type_keeps_the_default_class(probe: ModuleType) -> None:
    cfg = two_batch_config(
        default_hooks={"logger": {"interval": 1}, "checkpoint": {"interval": 2, "max_keep_ckpts": 1}}
    )
    runner = Runner.from_config(cfg)
    assert labels(runner) == DEFAULTS
    logger = runner.hooks.plugins[3]
    checkpoint = runner.hooks.plugins[5]
    assert type(logger) is LoggerHook
    assert logger.interval == 1
    assert type(checkpoint) is CheckpointHook
    assert (checkpoint.interval, checkpoint.max_keep_ckpts) == (2, 1)


def test_unknown_default_hook_key_suggests_the_name(probe: ModuleType) -> None:
    with pytest.raises(ConfigError, match=r"default_hooks\.loger") as info:
        Runner.from_config(two_batch_config(default_hooks={"loger": {"interval": 1}}))
    assert info.value.suggestions == ["logger"]


def test_bad_priority_in_config_is_a_hook_error_at_its_key(probe: ModuleType) -> None:
    cfg = two_batch_config(custom_hooks=[{"type": "Recorder", "priority": "ABOVE_NORMALL"}])
    with pytest.raises(HookError) as info:
        Runner.from_config(cfg)
    assert info.value.key == "custom_hooks[0].priority"
    assert "ABOVE_NORMAL" in info.value.suggestions


def test_misspelt_hook_point_in_a_distribution_hook(probe: ModuleType) -> None:
    with pytest.raises(HookError) as info:
        Runner.from_config(two_batch_config(custom_hooks=[{"type": "TypoHook"}]))
    assert info.value.key == "custom_hooks[0]"
    assert info.value.suggestions == ["before_train_iter"]
