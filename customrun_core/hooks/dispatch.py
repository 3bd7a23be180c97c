"""Calling hook points: hooks in MMEngine priority order, one call path, pluggy for registration.

pluggy registers the plugins, validates each implementation against its hook spec and orders the
implementations (``tryfirst``/``trylast``). :class:`HookDispatcher` turns that order into a table per
hook point and calls the implementations from it, with or without monitors and a tracer watching.
Only a point with a ``wrapper=True``/``hookwrapper=True`` implementation is called through pluggy's
own call machinery, because pluggy defines how wrappers run around the others.
"""

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


class _PluggyRegistry(pluggy.PluginManager):
    """Takes the plain hook-point methods of :class:`Hook` objects as implementations, undecorated."""

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> pluggy.HookimplOpts | None:
        opts = super().parse_hookimpl_opts(plugin, name)
        plain = (
            isinstance(plugin, Hook)
            and name in hookspecs.HOOK_POINTS
            and callable(getattr(plugin, name, None))
        )
        if opts is None and plain:
            return pluggy.HookimplOpts(
                wrapper=False,
                hookwrapper=False,
                optionalhook=False,
                tryfirst=False,
                trylast=False,
                specname=None,
            )
        return opts


@attrs.define
class _Entry:
    name: str
    plugin: Any
    priority: int
    seq: int


# One implementation: function, argnames, kwargnames, whether it takes every argument of the point
_Call = tuple[Callable[..., Any], tuple[str, ...], tuple[str, ...], bool]
_Plan = tuple[frozenset[str], tuple[_Call, ...]]  # the point's argument names, what to call in order
_Monitor = Callable[[str, Mapping[str, Any]], Any]


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


class HookDispatcher:
    """Holds a run's hooks and calls them: lower priority number first, ties in the order added.

    pluggy calls implementations last-registered-first, so before the first call after any
    ``add`` the dispatcher re-registers all plugins in descending (priority, order added).
    ``@hookimpl(tryfirst=True)`` and ``trylast`` in pluggy-style plugins still move an
    implementation to the front or back, and ``wrapper=True`` implementations wrap all others,
    as pluggy defines.

    Every call goes through :meth:`fire`'s per-point table: the implementations in pluggy's
    order, each called with the arguments it names. While monitors or the tracer watch, ``fire``
    calls the monitors first and then walks the same table, whose functions the tracer has
    replaced by timed ones: a watched run (a plugin's test) calls what an unwatched one calls. A
    point with a ``wrapper=True``/``hookwrapper=True`` implementation has one entry, pluggy's hook
    caller, since pluggy runs wrappers around the others.
    """

    def __init__(self) -> None:
        self._pm = _PluggyRegistry(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._entries: list[_Entry] = []
        self._tracer: HookTracer | None = None
        self._monitors: list[_Monitor] = []
        self._stale = False  # plugins added since pluggy's registrations were last rebuilt
        self._plans: dict[str, _Plan] = {}  # per hook point, filled on its first call

    @property
    def hook(self) -> Any:
        """pluggy's hook relay (``dispatcher.hook.before_run(runner=...)``), every plugin registered.

        A call through it is pluggy's own: monitors do not see it and the tracer writes no line.
        """
        self._sync()
        return self._pm.hook

    def trace(self, points: Collection[str] | None, write: Callable[[str], Any]) -> None:
        """Report every call of ``points`` (all hook points when None) through ``write``, with each
        implementation's time (``--trace-hooks``)."""
        self._sync()
        self._tracer = HookTracer(points, write)
        self._tracer.attach(self._pm)
        self._plans.clear()
        self._watch()

    def monitor(self, before: _Monitor) -> Callable[[], None]:
        """Call ``before(point, kwargs)`` ahead of every call of a hook point, implemented or not
        (``customrun_core.testing`` records runs with it); returns a function that stops it.

        ``kwargs`` is the dict the implementations get their arguments from: read it, do not
        change it. Several monitors are called latest-added first; stopping one leaves the others.
        """
        self._monitors.insert(0, before)
        self._watch()

        def stop() -> None:
            if before in self._monitors:  # a second stop is harmless
                self._monitors.remove(before)
                self._watch()

        return stop

    def _watch(self) -> None:
        # ``fire`` runs for every hook point of every iteration, so whether anything watches is not
        # tested on each call: a watched dispatcher's class becomes _WatchedDispatcher, whose ``fire``
        # notifies the watchers and then walks the same table.
        watched = bool(self._monitors) or self._tracer is not None
        self.__class__ = _WatchedDispatcher if watched else HookDispatcher

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
            checker = _PluggyRegistry(hookspecs.PROJECT)
            checker.add_hookspecs(hookspecs)
            checker.register(plugin, name=unique)
        except pluggy.PluginValidationError as error:
            raise HookError(_explain_validation_error(name, plugin, error)) from None
        self._entries.append(_Entry(unique, plugin, value, len(self._entries)))
        self._stale = True
        self._plans.clear()

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
        self._plans.clear()

    def _plan(self, point: str) -> _Plan:
        """The table of ``point``: its implementations in pluggy's call order, or pluggy's hook
        caller alone where a wrapper must run around the others."""
        self._sync()
        caller = getattr(self._pm.hook, point)
        impls = caller.get_hookimpls()
        names = (*caller.spec.argnames, *caller.spec.kwargnames)
        if any(i.wrapper or i.hookwrapper for i in impls):
            return frozenset(names), ((caller, (), names, True),)
        calls = tuple(
            (i.function, tuple(i.argnames), tuple(i.kwargnames), {*i.argnames, *i.kwargnames} == {*names})
            for i in reversed(impls)
        )
        return frozenset(names), calls

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

        Implementations are called as pluggy would call them (same order, each with the
        arguments it names); a point nothing implements costs a dictionary lookup.
        """
        self.fire(point, kwargs)

    def bind(self, point: str, **bound: Any) -> Callable[..., None] | None:
        """A function firing ``point`` with ``bound`` and its own keyword arguments, for a component
        that fires a hook point itself (the optim wrapper: ``before_optimizer_step``); None when no
        hook implements the point, so that the component skips the call altogether.

        Whether to return None is decided now, from the hooks added so far: bind after the last
        ``add``. Monitors and the tracer see the calls made through the function, as any other.
        """
        if not self._plan(point)[1]:
            return None

        def fire(**kwargs: Any) -> None:
            kwargs.update(bound)
            self.fire(point, kwargs)

        return fire

    def fire(self, point: str, kwargs: dict[str, Any]) -> None:
        """:meth:`call` with the arguments as one dict (the runner's path: no re-packing)."""
        try:
            spec, calls = self._plans[point]
        except KeyError:
            spec, calls = self._plans[point] = self._plan(point)
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


class _WatchedDispatcher(HookDispatcher):
    """A :class:`HookDispatcher` while monitors or the tracer watch it (see ``_watch``)."""

    def fire(self, point: str, kwargs: dict[str, Any]) -> None:
        """The monitors, then :meth:`HookDispatcher.fire`'s table walk, timed as a whole and per
        implementation where the point is traced."""
        for before in self._monitors:
            before(point, kwargs)
        tracer = self._tracer
        if tracer is None or not tracer.traces(point):
            super().fire(point, kwargs)
            return
        started = tracer.begin()
        try:
            super().fire(point, kwargs)
        finally:
            tracer.end(point, started)


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
