"""The pluggy host: hooks in MMEngine priority order on top of pluggy's call machinery."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Mapping
from typing import Any

import attrs
import pluggy

from customrun_core import hookspecs
from customrun_core.errors import HookError, closest
from customrun_core.hooks.base import Hook, Priority, get_priority
from customrun_core.hooks.tracing import HookTracer


class _PluginManager(pluggy.PluginManager):
    """Takes the plain hook-point methods of :class:`Hook` objects as implementations, undecorated."""

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> pluggy.HookimplOpts | None:
        opts = super().parse_hookimpl_opts(plugin, name)
        plain = (
            isinstance(plugin, Hook)
            and name in hookspecs.HOOK_POINTS
            and callable(getattr(plugin, name, None))
        )
        if opts is None and plain:
            return {}
        return opts


@attrs.define
class _Entry:
    name: str
    plugin: Any
    priority: int
    seq: int


# One implementation: function, argnames, kwargnames, whether it takes every argument of the point
_Call = tuple[Callable[..., Any], tuple[str, ...], tuple[str, ...], bool]
_Plan = tuple[frozenset[str], tuple[_Call, ...]]  # the point's argument names, its implementations


def _check_method_names(hook: Hook, name: str) -> None:
    for attr in dir(type(hook)):
        if attr.startswith(("before_", "after_")) and attr not in hookspecs.HOOK_POINTS:
            raise HookError(
                f"{name} defines {attr}(), which is not a hook point",
                suggestions=closest(attr, hookspecs.HOOK_POINTS, n=1),
            )


def _priority_name(value: int) -> str:
    try:
        return Priority(value).name
    except ValueError:
        return str(value)


class HookManager:
    """Holds a run's hooks and calls them: lower priority number first, ties in the order added.

    pluggy calls implementations last-registered-first, so after every change the manager
    re-registers all plugins in descending (priority, order added). ``@hookimpl(tryfirst=True)``
    and ``trylast`` in pluggy-style plugins still move an implementation to the front or back,
    and ``wrapper=True`` implementations wrap all others, as pluggy defines.
    """

    def __init__(self) -> None:
        self._pm = _PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._entries: list[_Entry] = []
        self._tracer: HookTracer | None = None
        self._monitors = 0
        self._stale = False  # plugins added since pluggy's registrations were last rebuilt
        # Per hook point, what ``call`` runs: (function, arguments) in call order, or None
        # where pluggy must run the call (wrappers, tracing, monitors). Filled lazily.
        self._calls: dict[str, _Plan | None] = {}

    @property
    def hook(self) -> Any:
        """pluggy's hook relay (``manager.hook.before_run(runner=...)``), every plugin registered."""
        self._sync()
        return self._pm.hook

    def trace(self, points: Collection[str] | None, write: Callable[[str], Any]) -> None:
        """Report every call of ``points`` (all hook points when None) through ``write``, with each
        implementation's time (``--trace-hooks``)."""
        self._sync()
        self._tracer = HookTracer(points, write)
        self._pm.add_hookcall_monitoring(self._tracer.before, self._tracer.after)
        self._tracer.attach(self._pm)
        self._calls.clear()

    def monitor(self, before: Callable[[str, Mapping[str, Any]], Any]) -> Callable[[], None]:
        """Call ``before(point, kwargs)`` ahead of every call of a hook point, implemented or not
        (``customrun_core.testing`` records runs with it); returns a function that stops it.

        Monitors stack (pluggy's ``add_hookcall_monitoring``): stop them in reverse order.
        """
        undo = self._pm.add_hookcall_monitoring(
            lambda point, impls, kwargs: before(point, kwargs), lambda outcome, point, impls, kwargs: None
        )
        self._monitors += 1
        self._calls.clear()

        def stop() -> None:
            undo()
            self._monitors -= 1
            self._calls.clear()

        return stop

    def add(self, plugin: Any, priority: Any = None, name: str | None = None) -> None:
        """Register a :class:`Hook` instance or a pluggy-style plugin (module or object).

        ``priority`` overrides the plugin's ``priority`` attribute (NORMAL when it has none).

        Raises:
            HookError: a misspelt hook-point method, a bad priority, or an argument the hook point
                does not have.
        """
        name = name or _display_name(plugin)
        if isinstance(plugin, Hook):
            _check_method_names(plugin, name)
        if priority is None:
            priority = getattr(plugin, "priority", Priority.NORMAL)
        try:
            value = get_priority(priority)
        except HookError as error:
            raise HookError(f"{name}: {error.message}", suggestions=error.suggestions) from None
        unique = name if all(e.name != name for e in self._entries) else f"{name}#{len(self._entries)}"
        try:  # checked alone now, so that the error names it; registered in order on first use
            checker = _PluginManager(hookspecs.PROJECT)
            checker.add_hookspecs(hookspecs)
            checker.register(plugin, name=unique)
        except pluggy.PluginValidationError as error:
            raise HookError(_explain_validation_error(name, plugin, error)) from None
        self._entries.append(_Entry(unique, plugin, value, len(self._entries)))
        self._stale = True
        self._calls.clear()

    def _sync(self) -> None:
        """Register every plugin with pluggy again in call order (pluggy calls the last registered
        first): once after any number of ``add`` calls, not once per call."""
        if not self._stale:
            return
        for entry in self._entries:
            if self._pm.is_registered(entry.plugin):
                self._pm.unregister(entry.plugin)
        for entry in sorted(self._entries, key=lambda e: (e.priority, e.seq), reverse=True):
            self._pm.register(entry.plugin, name=entry.name)
        if self._tracer is not None:
            self._tracer.attach(self._pm)
        self._stale = False
        self._calls.clear()

    def _plan(self, point: str) -> _Plan | None:
        self._sync()
        caller = getattr(self._pm.hook, point)
        impls = caller.get_hookimpls()
        if self._tracer is not None or self._monitors or any(i.wrapper or i.hookwrapper for i in impls):
            return None
        spec = frozenset(caller.spec.argnames) | frozenset(caller.spec.kwargnames)
        calls = tuple(
            (i.function, tuple(i.argnames), tuple(i.kwargnames), set(i.argnames) | set(i.kwargnames) == spec)
            for i in reversed(impls)
        )
        return spec, calls

    def check_pending(self) -> None:
        """Refuse ``@hookimpl`` functions of pluggy-style plugins that name no hook point."""
        self._sync()
        try:
            self._pm.check_pending()
        except pluggy.PluginValidationError as error:
            raise HookError(str(error).splitlines()[0]) from None

    @property
    def plugins(self) -> list[Any]:
        """The registered plugins in priority order."""
        return [e.plugin for e in sorted(self._entries, key=lambda e: (e.priority, e.seq))]

    def call(self, point: str, **kwargs: Any) -> None:
        """Call every implementation of one hook point (for custom loops: ``runner.call_hook``).

        Plain implementations are called straight from a per-point table, as pluggy would call
        them (same order, each with the arguments it names); a point nothing implements costs a
        dictionary lookup. Wrappers, ``--trace-hooks`` and monitors go through pluggy itself.
        """
        self.fire(point, kwargs)

    def fire(self, point: str, kwargs: dict[str, Any]) -> None:
        """:meth:`call` with the arguments as one dict (the runner's path: no re-packing)."""
        try:
            plan = self._calls[point]
        except KeyError:
            plan = self._calls[point] = self._plan(point)
        if plan is None:
            getattr(self._pm.hook, point)(**kwargs)
            return
        spec, calls = plan
        if not calls:
            return
        exact = kwargs.keys() == spec  # the usual call: every argument of the hook point
        for function, argnames, kwargnames, takes_all in calls:
            if exact and takes_all:
                function(**kwargs)
                continue
            try:
                args = [kwargs[name] for name in argnames]
            except KeyError as missing:  # what pluggy says
                raise pluggy.HookCallError(f"hook call must provide argument {missing.args[0]!r}") from None
            if kwargnames:  # arguments with defaults get the values passed (pluggy >= 1.7)
                function(*args, **{name: kwargs[name] for name in kwargnames if name in kwargs})
            else:
                function(*args)

    def order(self) -> dict[str, list[tuple[str, str]]]:
        """Per hook point, in call order, (plugin name, priority name) of each implementation."""
        self._sync()
        priorities = {e.name: _priority_name(e.priority) for e in self._entries}
        table: dict[str, list[tuple[str, str]]] = {}
        for point in hookspecs.HOOK_POINTS:
            impls = list(reversed(getattr(self._pm.hook, point).get_hookimpls()))
            if impls:
                table[point] = [(i.plugin_name, priorities.get(i.plugin_name, "?")) for i in impls]
        return table

    def format_order(self) -> str:
        """The hook table MMEngine logs at the start of a run."""
        lines = ["hooks will be executed in the following order:"]
        for point, impls in self.order().items():
            lines.append(f"  {point}:")
            lines.extend(f"    ({prio:<12}) {name}" for name, prio in impls)
        return "\n".join(lines)


def _display_name(plugin: Any) -> str:
    if inspect.ismodule(plugin):
        return plugin.__name__
    return type(plugin).__name__


def _explain_validation_error(name: str, plugin: Any, error: pluggy.PluginValidationError) -> str:
    for point in hookspecs.HOOK_POINTS:
        impl = getattr(plugin, point, None)
        if impl is None or not callable(impl):
            continue
        allowed = set(inspect.signature(getattr(hookspecs, point)).parameters)
        params = inspect.signature(impl).parameters
        extra = [p for p in params if p not in allowed and params[p].kind <= params[p].KEYWORD_ONLY]
        if extra:
            return (
                f"{name}.{point}() takes {', '.join(extra)}, which the hook point does not pass "
                f"(it passes {', '.join(sorted(allowed))})"
            )
    return f"{name}: {str(error).splitlines()[0]}"
