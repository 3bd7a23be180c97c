"""HookManager: priority order, pluggy-style plugins, and refusal of hooks that would never fire."""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any

import pytest

import customrun_core
from customrun_core import Hook, hookimpl
from customrun_core.errors import HookError
from customrun_core.hooks.manager import HookManager

RUNNER = types.SimpleNamespace(epoch=0, iter=0)


class Tagged(Hook):
    """Appends its tag to ``log`` at before_train_epoch."""

    def __init__(self, tag: str, log: list[str], priority: Any = None) -> None:
        self.tag, self.log = tag, log
        if priority is not None:
            self.priority = priority

    def before_train_epoch(self, runner: Any) -> None:
        self.log.append(self.tag)


def plugin_module(name: str, log: list[str], **opts: Any) -> types.ModuleType:
    """A pluggy-style plugin module whose before_train_epoch is marked ``@hookimpl(**opts)``."""
    module = types.ModuleType(name)

    @hookimpl(**opts)
    def before_train_epoch(runner: Any) -> None:
        log.append(name)

    module.before_train_epoch = before_train_epoch  # type: ignore[attr-defined]
    return module


def fire(manager: HookManager) -> None:
    manager.call("before_train_epoch", runner=RUNNER)


@pytest.fixture
def log() -> list[str]:
    return []


# -- priority order -------------------------------------------------------------------------------


def test_lower_priority_value_runs_first(log: list[str]) -> None:
    """Names, enum members and ints on MMEngine's scale (HIGHEST 0 ... LOWEST 100)."""
    manager = HookManager()
    manager.add(Tagged("lowest", log, "LOWEST"))
    manager.add(Tagged("normal", log))
    manager.add(Tagged("int49", log, 49))
    manager.add(Tagged("very_high", log, customrun_core.Priority.VERY_HIGH))
    manager.add(Tagged("below_normal", log, "below_normal"))  # names in any case
    fire(manager)
    assert log == ["very_high", "int49", "normal", "below_normal", "lowest"]


def test_ties_run_in_registration_order(log: list[str]) -> None:
    manager = HookManager()
    for tag in ("first", "second", "third"):
        manager.add(Tagged(tag, log, "NORMAL"))
    manager.add(Tagged("int50", log, 50))  # NORMAL == 50: still after the three
    manager.add(Tagged("high", log, "HIGH"))
    fire(manager)
    assert log == ["high", "first", "second", "third", "int50"]


def test_argument_priority_overrides_class_attribute(log: list[str]) -> None:
    class Early(Tagged):
        priority = "HIGHEST"

    manager = HookManager()
    manager.add(Tagged("normal", log))
    manager.add(Early("early", log))
    manager.add(Early("demoted", log), priority="LOWEST")
    fire(manager)
    assert log == ["early", "normal", "demoted"]


def test_order_table_names_priorities() -> None:
    manager = HookManager()
    manager.add(Tagged("a", []), priority=49)
    manager.add(Tagged("b", []), priority="VERY_LOW")
    assert manager.order() == {"before_train_epoch": [("Tagged", "49"), ("Tagged#1", "VERY_LOW")]}
    assert "(VERY_LOW    ) Tagged#1" in manager.format_order()


@pytest.mark.parametrize(
    ("priority", "fragment"),
    [
        (101, "between 0 and 100"),
        (-1, "between 0 and 100"),
        (True, "boolean"),
        (2.5, "float"),
        ("ABOVE_NORMALL", "ABOVE_NORMAL"),
    ],
)
def test_bad_priority_is_refused(priority: Any, fragment: str) -> None:
    manager = HookManager()
    with pytest.raises(HookError, match=fragment):
        manager.add(Tagged("x", []), priority=priority)
    assert manager.plugins == []


# -- refusing hooks that would silently never fire ------------------------------------------------


def test_misspelt_hook_point_suggests_the_right_name() -> None:
    class Typo(Hook):
        def before_train_itr(self, runner: Any, batch_idx: int, data_batch: Any = None) -> None:
            pass

    manager = HookManager()
    with pytest.raises(HookError) as info:
        manager.add(Typo())
    assert "before_train_itr" in str(info.value)
    assert info.value.suggestions == ["before_train_iter"]
    assert "did you mean 'before_train_iter'?" in str(info.value)
    assert manager.plugins == []


def test_argument_the_hook_point_lacks_is_named(log: list[str]) -> None:
    class WantsMetrics(Hook):
        def after_train_epoch(self, runner: Any, metrics: dict) -> None:  # only after_val_epoch has metrics
            pass

    manager = HookManager()
    manager.add(Tagged("kept", log))
    with pytest.raises(HookError) as info:
        manager.add(WantsMetrics())
    message = str(info.value)
    assert "WantsMetrics.after_train_epoch()" in message
    assert "takes metrics" in message
    # the failed hook is not left half-registered; the others still fire
    assert [type(p).__name__ for p in manager.plugins] == ["Tagged"]
    fire(manager)
    assert log == ["kept"]


def test_hookimpl_naming_no_hook_point_is_refused() -> None:
    module = types.ModuleType("typo_plugin")

    @hookimpl
    def before_trian(runner: Any) -> None:
        pass

    module.before_trian = before_trian  # type: ignore[attr-defined]
    manager = HookManager()
    manager.add(module)
    with pytest.raises(HookError, match="before_trian"):
        manager.check_pending()


def test_subset_of_arguments_is_accepted() -> None:
    seen: list[int] = []

    class OnlyRunner(Hook):
        def after_train_iter(self, runner: Any) -> None:
            seen.append(runner.iter)

    manager = HookManager()
    manager.add(OnlyRunner())
    manager.call("after_train_iter", runner=RUNNER, batch_idx=0, data_batch=None, outputs={})
    assert seen == [0]


# -- arguments with defaults are passed (pluggy >= 1.7) ---------------------------------------------


def test_arguments_with_defaults_receive_the_values() -> None:
    """MMEngine hooks declare ``data_batch=None``/``outputs=None``/``metrics=None``; they must get the values."""
    got: dict[str, Any] = {}

    class Defaults(Hook):
        def before_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None) -> None:
            got["before_train_iter"] = (batch_idx, data_batch)

        def after_train_iter(
            self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None
        ) -> None:
            got["after_train_iter"] = (batch_idx, data_batch, outputs)

        def after_val_epoch(self, runner: Any, metrics: dict | None = None) -> None:
            got["after_val_epoch"] = metrics

    manager = HookManager()
    manager.add(Defaults())
    batch = {"inputs": [1, 2], "targets": [0, 1]}
    manager.call("before_train_iter", runner=RUNNER, batch_idx=3, data_batch=batch)
    manager.call("after_train_iter", runner=RUNNER, batch_idx=3, data_batch=batch, outputs={"loss": 0.5})
    manager.call("after_val_epoch", runner=RUNNER, metrics={"accuracy/top1": 90.0})
    assert got["before_train_iter"] == (3, batch)
    assert got["before_train_iter"][1] is batch
    assert got["after_train_iter"] == (3, batch, {"loss": 0.5})
    assert got["after_val_epoch"] == {"accuracy/top1": 90.0}


# -- pluggy-style plugins -------------------------------------------------------------------------


def test_tryfirst_plugin_runs_before_highest_hooks(log: list[str]) -> None:
    manager = HookManager()
    manager.add(Tagged("highest", log, "HIGHEST"))
    manager.add(plugin_module("plain", log))  # a module without priority: NORMAL
    manager.add(Tagged("lowest", log, "LOWEST"))
    manager.add(plugin_module("first", log, tryfirst=True))
    manager.add(plugin_module("last", log, trylast=True))
    manager.add(Tagged("normal", log))
    fire(manager)
    assert log == ["first", "highest", "plain", "normal", "lowest", "last"]
    names = [name for name, _ in manager.order()["before_train_epoch"]]
    assert names == ["first", "Tagged", "plain", "Tagged#5", "Tagged#2", "last"]


def test_plugin_module_priority_attribute(log: list[str]) -> None:
    module = plugin_module("early_module", log)
    module.priority = "VERY_HIGH"  # type: ignore[attr-defined]
    manager = HookManager()
    manager.add(Tagged("high", log, "HIGH"))
    manager.add(module)
    fire(manager)
    assert log == ["early_module", "high"]


def test_wrapper_plugin_wraps_every_hook(log: list[str]) -> None:
    module = types.ModuleType("wrapping_plugin")

    @hookimpl(wrapper=True)
    def before_train_epoch(runner: Any) -> Iterator[None]:
        log.append("enter")
        result = yield
        log.append("exit")
        return result

    module.before_train_epoch = before_train_epoch  # type: ignore[attr-defined]
    manager = HookManager()
    manager.add(Tagged("highest", log, "HIGHEST"))
    manager.add(module)
    manager.add(plugin_module("first", log, tryfirst=True))
    fire(manager)
    assert log == ["enter", "first", "highest", "exit"]


# -- monitoring ----------------------------------------------------------------------------------


def test_monitor_sees_every_call_once_implemented_or_not(log: list[str]) -> None:
    manager = HookManager()
    manager.add(Tagged("hook", log))
    seen: list[tuple[str, list[str]]] = []
    stop = manager.monitor(lambda point, kwargs: seen.append((point, sorted(kwargs))))
    fire(manager)
    manager.call("after_run", runner=RUNNER)  # no implementation
    manager.call("after_val_epoch", runner=RUNNER, metrics={})
    assert seen == [
        ("before_train_epoch", ["runner"]),
        ("after_run", ["runner"]),
        ("after_val_epoch", ["metrics", "runner"]),
    ]
    assert log == ["hook"]
    stop()
    fire(manager)
    assert len(seen) == 3
    assert log == ["hook", "hook"]


def test_monitor_survives_adding_hooks_after_it(log: list[str]) -> None:
    """Re-registration (every add re-sorts the plugins) keeps the monitor in place."""
    manager = HookManager()
    seen: list[str] = []
    manager.monitor(lambda point, kwargs: seen.append(point))
    manager.add(Tagged("late", log))
    fire(manager)
    assert (seen, log) == (["before_train_epoch"], ["late"])


# -- the direct call path is pluggy's, and registration is linear ------------------------------


class Signatures(Hook):
    """after_train_iter with all arguments, with some defaulted, and with a subset."""

    def __init__(self, log: list[Any], tag: str, style: str, priority: Any = None) -> None:
        self.log, self.tag, self.style = log, tag, style
        if priority is not None:
            self.priority = priority
        method = {"full": self._full, "defaults": self._defaults, "subset": self._subset}[style]
        self.after_train_iter = method  # type: ignore[method-assign]

    def after_train_iter(
        self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        raise AssertionError("replaced in __init__")

    def _full(self, runner: Any, batch_idx: int, data_batch: Any, outputs: Any) -> None:
        self.log.append((self.tag, batch_idx, data_batch, outputs))

    def _defaults(self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = "unset") -> None:
        self.log.append((self.tag, batch_idx, data_batch, outputs))

    def _subset(self, batch_idx: int) -> None:
        self.log.append((self.tag, batch_idx))


def calls_seen(through_pluggy: bool, **kwargs: Any) -> list[Any]:
    log: list[Any] = []
    manager = HookManager()
    for tag, style, priority in [("a", "full", "LOW"), ("b", "defaults", None), ("c", "subset", "HIGH")]:
        manager.add(Signatures(log, tag, style, priority))
    manager.add(plugin_module("first", log, tryfirst=True))
    stop = manager.monitor(lambda point, kwargs: None) if through_pluggy else None
    manager.call("after_train_iter", runner=RUNNER, **kwargs)
    manager.call("before_train_epoch", runner=RUNNER)
    if stop is not None:
        stop()
    return log


@pytest.mark.parametrize(
    "kwargs",
    [{"batch_idx": 3, "data_batch": [1], "outputs": {"loss": 1.0}}, {"batch_idx": 3, "data_batch": [1]}],
    ids=["every-argument", "outputs-left-out"],
)
def test_the_direct_path_calls_what_pluggy_calls(kwargs: dict[str, Any]) -> None:
    """Same order, same arguments, defaults where the caller leaves an argument out; a monitor
    sends the call through pluggy itself, which is the reference."""
    if "outputs" not in kwargs:
        with pytest.raises(Exception, match="must provide argument 'outputs'") as direct:
            calls_seen(False, **kwargs)
        with pytest.raises(Exception, match="must provide argument 'outputs'") as reference:
            calls_seen(True, **kwargs)
        assert type(direct.value) is type(reference.value)
        return
    assert calls_seen(False, **kwargs) == calls_seen(True, **kwargs)
    tags = [entry if isinstance(entry, str) else entry[0] for entry in calls_seen(False, **kwargs)]
    assert tags == ["c", "b", "a", "first"]


def test_registering_many_hooks_registers_each_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Adding hooks one by one used to re-register all of them every time (200 plugins: 20,000
    registrations); now each is checked once and all are registered once, at the first call."""
    from customrun_core.hooks import manager as manager_module

    count = 0
    register = manager_module._PluginManager.register

    def counting(self: Any, plugin: Any, name: str | None = None) -> Any:
        nonlocal count
        count += 1
        return register(self, plugin, name)

    monkeypatch.setattr(manager_module._PluginManager, "register", counting)
    log: list[str] = []
    manager = HookManager()
    for index in range(200):
        manager.add(Tagged(str(index), log))
    manager.call("before_train_epoch", runner=RUNNER)
    assert log == [str(index) for index in range(200)]
    assert count == 2 * 200  # checked once, registered once
