"""HookDispatcher: priority order, pluggy-style plugins, and refusal of hooks that would never fire."""

from __future__ import annotations

import re
import types
from collections.abc import Iterator
from typing import Any

import pluggy
import pytest

import customrun_core
from customrun_core import Hook, hookimpl
from customrun_core.errors import HookError
from customrun_core.hooks.dispatch import HookDispatcher

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


def fire(dispatcher: HookDispatcher) -> None:
    dispatcher.call("before_train_epoch", runner=RUNNER)


@pytest.fixture
def log() -> list[str]:
    return []


# -- priority order -------------------------------------------------------------------------------


def test_lower_priority_value_runs_first(log: list[str]) -> None:
    """Names, enum members and ints on MMEngine's scale (HIGHEST 0 ... LOWEST 100)."""
    dispatcher = HookDispatcher()
    dispatcher.add(Tagged("lowest", log, "LOWEST"))
    dispatcher.add(Tagged("normal", log))
    dispatcher.add(Tagged("int49", log, 49))
    dispatcher.add(Tagged("very_high", log, customrun_core.Priority.VERY_HIGH))
    dispatcher.add(Tagged("below_normal", log, "below_normal"))  # names in any case
    fire(dispatcher)
    assert log == ["very_high", "int49", "normal", "below_normal", "lowest"]


def test_ties_run_in_registration_order(log: list[str]) -> None:
    dispatcher = HookDispatcher()
    for tag in ("first", "second", "third"):
        dispatcher.add(Tagged(tag, log, "NORMAL"))
    dispatcher.add(Tagged("int50", log, 50))  # NORMAL == 50: still after the three
    dispatcher.add(Tagged("high", log, "HIGH"))
    fire(dispatcher)
    assert log == ["high", "first", "second", "third", "int50"]


def test_argument_priority_overrides_class_attribute(log: list[str]) -> None:
    class Early(Tagged):
        priority = "HIGHEST"

    dispatcher = HookDispatcher()
    dispatcher.add(Tagged("normal", log))
    dispatcher.add(Early("early", log))
    dispatcher.add(Early("demoted", log), priority="LOWEST")
    fire(dispatcher)
    assert log == ["early", "normal", "demoted"]


def test_order_table_names_priorities() -> None:
    dispatcher = HookDispatcher()
    dispatcher.add(Tagged("a", []), priority=49)
    dispatcher.add(Tagged("b", []), priority="VERY_LOW")
    assert dispatcher.order() == {"before_train_epoch": [("Tagged", "49"), ("Tagged#1", "VERY_LOW")]}
    assert "(VERY_LOW    ) Tagged#1" in dispatcher.format_order()


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
    dispatcher = HookDispatcher()
    with pytest.raises(HookError, match=fragment):
        dispatcher.add(Tagged("x", []), priority=priority)
    assert dispatcher.plugins == []


# -- refusing hooks that would silently never fire ------------------------------------------------


def test_misspelt_hook_point_suggests_the_right_name() -> None:
    class Typo(Hook):
        def before_train_itr(self, runner: Any, batch_idx: int, data_batch: Any = None) -> None:
            pass

    dispatcher = HookDispatcher()
    with pytest.raises(HookError) as info:
        dispatcher.add(Typo())
    assert "before_train_itr" in str(info.value)
    assert info.value.suggestions == ["before_train_iter"]
    assert "did you mean 'before_train_iter'?" in str(info.value)
    assert dispatcher.plugins == []


def test_argument_the_hook_point_lacks_is_named(log: list[str]) -> None:
    class WantsMetrics(Hook):
        def after_train_epoch(self, runner: Any, metrics: dict) -> None:  # only after_val_epoch has metrics
            pass

    dispatcher = HookDispatcher()
    dispatcher.add(Tagged("kept", log))
    with pytest.raises(HookError) as info:
        dispatcher.add(WantsMetrics())
    message = str(info.value)
    assert "WantsMetrics.after_train_epoch()" in message
    assert "takes metrics" in message
    # the failed hook is not left half-registered; the others still fire
    assert [type(p).__name__ for p in dispatcher.plugins] == ["Tagged"]
    fire(dispatcher)
    assert log == ["kept"]


def test_hookimpl_naming_no_hook_point_is_refused() -> None:
    module = types.ModuleType("typo_plugin")

    @hookimpl
    def before_trian(runner: Any) -> None:
        pass

    module.before_trian = before_trian  # type: ignore[attr-defined]
    dispatcher = HookDispatcher()
    dispatcher.add(module)
    with pytest.raises(HookError, match="before_trian"):
        dispatcher.check_pending()


def test_subset_of_arguments_is_accepted() -> None:
    seen: list[int] = []

    class OnlyRunner(Hook):
        def after_train_iter(self, runner: Any) -> None:
            seen.append(runner.iter)

    dispatcher = HookDispatcher()
    dispatcher.add(OnlyRunner())
    dispatcher.call("after_train_iter", runner=RUNNER, batch_idx=0, data_batch=None, outputs={})
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

    dispatcher = HookDispatcher()
    dispatcher.add(Defaults())
    batch = {"inputs": [1, 2], "targets": [0, 1]}
    dispatcher.call("before_train_iter", runner=RUNNER, batch_idx=3, data_batch=batch)
    dispatcher.call("after_train_iter", runner=RUNNER, batch_idx=3, data_batch=batch, outputs={"loss": 0.5})
    dispatcher.call("after_val_epoch", runner=RUNNER, metrics={"accuracy/top1": 90.0})
    assert got["before_train_iter"] == (3, batch)
    assert got["before_train_iter"][1] is batch
    assert got["after_train_iter"] == (3, batch, {"loss": 0.5})
    assert got["after_val_epoch"] == {"accuracy/top1": 90.0}


# -- pluggy-style plugins -------------------------------------------------------------------------


def test_tryfirst_plugin_runs_before_highest_hooks(log: list[str]) -> None:
    dispatcher = HookDispatcher()
    dispatcher.add(Tagged("highest", log, "HIGHEST"))
    dispatcher.add(plugin_module("plain", log))  # a module without priority: NORMAL
    dispatcher.add(Tagged("lowest", log, "LOWEST"))
    dispatcher.add(plugin_module("first", log, tryfirst=True))
    dispatcher.add(plugin_module("last", log, trylast=True))
    dispatcher.add(Tagged("normal", log))
    fire(dispatcher)
    assert log == ["first", "highest", "plain", "normal", "lowest", "last"]
    names = [name for name, _ in dispatcher.order()["before_train_epoch"]]
    assert names == ["first", "Tagged", "plain", "Tagged#5", "Tagged#2", "last"]


def test_plugin_module_priority_attribute(log: list[str]) -> None:
    module = plugin_module("early_module", log)
    module.priority = "VERY_HIGH"  # type: ignore[attr-defined]
    dispatcher = HookDispatcher()
    dispatcher.add(Tagged("high", log, "HIGH"))
    dispatcher.add(module)
    fire(dispatcher)
    assert log == ["early_module", "high"]


def wrapped_dispatcher(log: list[str]) -> HookDispatcher:
    """A pluggy ``wrapper=True`` implementation of before_train_epoch around two others."""
    module = types.ModuleType("wrapping_plugin")

    @hookimpl(wrapper=True)
    def before_train_epoch(runner: Any) -> Iterator[None]:
        log.append("enter")
        result = yield
        log.append("exit")
        return result

    module.before_train_epoch = before_train_epoch  # type: ignore[attr-defined]
    dispatcher = HookDispatcher()
    dispatcher.add(Tagged("highest", log, "HIGHEST"))
    dispatcher.add(module)
    dispatcher.add(plugin_module("first", log, tryfirst=True))
    return dispatcher


def test_wrapper_plugin_wraps_every_hook(log: list[str]) -> None:
    fire(wrapped_dispatcher(log))
    assert log == ["enter", "first", "highest", "exit"]


# -- monitoring ----------------------------------------------------------------------------------


def test_monitor_sees_every_call_once_implemented_or_not(log: list[str]) -> None:
    dispatcher = HookDispatcher()
    dispatcher.add(Tagged("hook", log))
    seen: list[tuple[str, list[str]]] = []
    stop = dispatcher.monitor(lambda point, kwargs: seen.append((point, sorted(kwargs))))
    fire(dispatcher)
    dispatcher.call("after_run", runner=RUNNER)  # no implementation
    dispatcher.call("after_val_epoch", runner=RUNNER, metrics={})
    assert seen == [
        ("before_train_epoch", ["runner"]),
        ("after_run", ["runner"]),
        ("after_val_epoch", ["metrics", "runner"]),
    ]
    assert log == ["hook"]
    stop()
    fire(dispatcher)
    assert len(seen) == 3
    assert log == ["hook", "hook"]


def test_monitor_survives_adding_hooks_after_it(log: list[str]) -> None:
    """Re-registration (every add re-sorts the plugins) keeps the monitor in place."""
    dispatcher = HookDispatcher()
    seen: list[str] = []
    dispatcher.monitor(lambda point, kwargs: seen.append(point))
    dispatcher.add(Tagged("late", log))
    fire(dispatcher)
    assert (seen, log) == (["before_train_epoch"], ["late"])


def test_stopping_one_monitor_leaves_the_others(log: list[str]) -> None:
    dispatcher = HookDispatcher()
    first: list[str] = []
    second: list[str] = []
    stop_first = dispatcher.monitor(lambda point, kwargs: first.append(point))
    dispatcher.monitor(lambda point, kwargs: second.append(point))
    stop_first()
    fire(dispatcher)
    assert (first, second) == ([], ["before_train_epoch"])


# -- watched calls take the same path -------------------------------------------------------------

TRACE_LINE = re.compile(r"\[trace\] (\w+) [\d.]+ ms: (.*)")


def traced_names(lines: list[str]) -> list[tuple[str, list[str]]]:
    """(point, implementation names) of each ``[trace]`` line, the names without their times."""
    calls = []
    for line in lines:
        match = TRACE_LINE.fullmatch(line)
        assert match, line
        parts = [] if match[2] == "no implementation" else match[2].split(", ")
        calls.append((match[1], [part.rsplit(" ", 2)[0] for part in parts]))
    return calls


def mixed_dispatcher(log: list[str]) -> HookDispatcher:
    dispatcher = HookDispatcher()
    dispatcher.add(Tagged("highest", log, "HIGHEST"))
    dispatcher.add(plugin_module("last", log, trylast=True))
    dispatcher.add(Tagged("normal", log))
    dispatcher.add(plugin_module("first", log, tryfirst=True))
    return dispatcher


CALLS: list[tuple[str, dict[str, Any]]] = [
    ("before_train_epoch", {"runner": RUNNER}),
    ("after_run", {"runner": RUNNER}),  # nothing implements it
    ("before_train_epoch", {"runner": RUNNER}),
]


def test_a_watched_call_is_made_by_the_table_not_by_pluggy(
    monkeypatch: pytest.MonkeyPatch, log: list[str]
) -> None:
    """With a monitor and the tracer on, pluggy's call machinery is never entered, the monitor
    sees every call, and the implementations receive what pluggy's relay gives them."""
    reference: list[str] = []
    relay = mixed_dispatcher(reference).hook
    for point, kwargs in CALLS:
        getattr(relay, point)(**kwargs)

    def refuse(*args: Any) -> None:
        raise AssertionError("pluggy's _hookexec ran the call")

    monkeypatch.setattr(pluggy.PluginManager, "_hookexec", refuse)  # before the hook callers exist
    dispatcher = mixed_dispatcher(log)
    seen: list[tuple[str, dict[str, Any]]] = []
    dispatcher.monitor(lambda point, kwargs: seen.append((point, dict(kwargs))))
    lines: list[str] = []
    dispatcher.trace(None, lines.append)
    for point, kwargs in CALLS:
        dispatcher.fire(point, dict(kwargs))
    assert seen == CALLS
    assert log == reference == ["first", "highest", "normal", "last"] * 2
    with pytest.raises(AssertionError, match="_hookexec ran"):  # the patch is in force
        dispatcher.hook.before_train_epoch(runner=RUNNER)
    assert len(lines) == len(CALLS)


def test_tracing_with_a_monitor_reports_every_call_and_implementation(log: list[str]) -> None:
    """One line per call, in call order, naming the implementations in the order pluggy reports
    them; a traced call nested in another gets its own line and leaves the outer one whole."""

    class Nesting(Hook):
        def before_train_epoch(self, runner: Any) -> None:
            dispatcher.call("after_run", runner=runner)

    dispatcher = mixed_dispatcher(log)
    dispatcher.add(Nesting())
    seen: list[str] = []
    dispatcher.monitor(lambda point, kwargs: seen.append(point))
    lines: list[str] = []
    dispatcher.trace(None, lines.append)
    for point, kwargs in CALLS:
        dispatcher.call(point, **kwargs)
    order = [name for name, _ in dispatcher.order()["before_train_epoch"]]
    assert order == ["first", "Tagged", "Tagged#2", "Nesting", "last"]
    epoch = ("before_train_epoch", order)
    run: tuple[str, list[str]] = ("after_run", [])
    assert traced_names(lines) == [run, epoch, run, run, epoch]  # a nested line ends first
    assert seen == ["before_train_epoch", "after_run", "after_run", "before_train_epoch", "after_run"]


def test_a_wrapper_wraps_the_others_while_watched(log: list[str]) -> None:
    dispatcher = wrapped_dispatcher(log)
    seen: list[str] = []
    dispatcher.monitor(lambda point, kwargs: seen.append(point))
    lines: list[str] = []
    dispatcher.trace(None, lines.append)
    fire(dispatcher)
    assert log == ["enter", "first", "highest", "exit"]
    assert seen == ["before_train_epoch"]
    assert traced_names(lines) == [("before_train_epoch", ["first", "Tagged"])]  # wrappers are not listed


# -- the table calls what pluggy calls, and registration is linear ------------------------------


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


def calls_seen(how: str, **kwargs: Any) -> list[Any]:
    """What the implementations received: through the dispatcher's table (``direct``), the same
    with a monitor and the tracer on (``watched``), or through pluggy's own relay (``pluggy``)."""
    log: list[Any] = []
    dispatcher = HookDispatcher()
    for tag, style, priority in [("a", "full", "LOW"), ("b", "defaults", None), ("c", "subset", "HIGH")]:
        dispatcher.add(Signatures(log, tag, style, priority))
    dispatcher.add(plugin_module("first", log, tryfirst=True))
    if how == "pluggy":
        dispatcher.hook.after_train_iter(runner=RUNNER, **kwargs)
        dispatcher.hook.before_train_epoch(runner=RUNNER)
        return log
    if how == "watched":
        dispatcher.monitor(lambda point, kwargs: None)
        dispatcher.trace(None, lambda line: None)
    dispatcher.call("after_train_iter", runner=RUNNER, **kwargs)
    dispatcher.call("before_train_epoch", runner=RUNNER)
    return log


@pytest.mark.parametrize("how", ["direct", "watched"])
@pytest.mark.parametrize(
    "kwargs",
    [{"batch_idx": 3, "data_batch": [1], "outputs": {"loss": 1.0}}, {"batch_idx": 3, "data_batch": [1]}],
    ids=["every-argument", "outputs-left-out"],
)
def test_the_direct_path_calls_what_pluggy_calls(how: str, kwargs: dict[str, Any]) -> None:
    """Same order, same arguments, defaults where the caller leaves an argument out, watched or
    not; pluggy's own relay (``dispatcher.hook``) is the reference."""
    if "outputs" not in kwargs:
        with pytest.raises(Exception, match="must provide argument 'outputs'") as direct:
            calls_seen(how, **kwargs)
        with pytest.raises(Exception, match="must provide argument 'outputs'") as reference:
            calls_seen("pluggy", **kwargs)
        assert type(direct.value) is type(reference.value)
        return
    assert calls_seen(how, **kwargs) == calls_seen("pluggy", **kwargs)
    tags = [entry if isinstance(entry, str) else entry[0] for entry in calls_seen(how, **kwargs)]
    assert tags == ["c", "b", "a", "first"]


def test_registering_many_hooks_registers_each_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Adding hooks one by one used to re-register all of them every time (200 plugins: 20,000
    registrations); now each is checked once and all are registered once, at the first call."""
    from customrun_core.hooks import dispatch as dispatch_module

    count = 0
    register = dispatch_module._PluggyRegistry.register

    def counting(self: Any, plugin: Any, name: str | None = None) -> Any:
        nonlocal count
        count += 1
        return register(self, plugin, name)

    monkeypatch.setattr(dispatch_module._PluggyRegistry, "register", counting)
    log: list[str] = []
    dispatcher = HookDispatcher()
    for index in range(200):
        dispatcher.add(Tagged(str(index), log))
    dispatcher.call("before_train_epoch", runner=RUNNER)
    assert log == [str(index) for index in range(200)]
    assert count == 2 * 200  # checked once, registered once
