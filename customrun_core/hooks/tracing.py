"""Hook-call tracing: each call of a hook point with the implementations it ran and their time."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Collection
from typing import Any

import pluggy

from customrun_core import hookspecs
from customrun_core.errors import ConfigError, closest


def parse_points(text: str | None) -> frozenset[str] | None:
    """``--trace-hooks`` / ``CUSTOMRUN_TRACE_HOOKS``: empty, ``1`` or ``all`` trace every hook point;
    otherwise a comma-separated list of hook points (misspellings are refused with a suggestion)."""
    if text is None or text.strip().lower() in ("", "1", "all", "true"):
        return None
    points = frozenset(p.strip() for p in text.split(",") if p.strip())
    for point in sorted(points):
        if point not in hookspecs.HOOK_POINTS:
            raise ConfigError(
                f"{point!r} is not a hook point",
                key="--trace-hooks",
                suggestions=closest(point, hookspecs.HOOK_POINTS, n=1),
            )
    return points


class HookTracer:
    """Writes one line per traced hook call: ``[trace] after_train_iter 0.081 ms: LoggerHook 0.052 ms, ...``.

    Implementations are timed by replacing their functions, once per registration, by timed ones
    (:meth:`attach`), which the dispatcher's table then calls; pluggy's wrappers are not timed
    on their own, since they run around the others. The dispatcher brackets each traced call
    with :meth:`begin` and :meth:`end`; a traced call nested in another one (a checkpoint saved
    in ``after_train_epoch``) gets its own line and leaves the outer call's timings whole.
    """

    def __init__(self, points: Collection[str] | None, write: Callable[[str], Any]) -> None:
        self.points = None if points is None else frozenset(points)
        self.write = write
        self._open: list[list[tuple[str, float]]] = []  # per traced call in progress, innermost last

    def traces(self, point: str) -> bool:
        return self.points is None or point in self.points

    def attach(self, pm: pluggy.PluginManager) -> None:
        """Time every implementation of the traced points (call again after re-registration)."""
        for point in hookspecs.HOOK_POINTS:
            if not self.traces(point):
                continue
            for impl in getattr(pm.hook, point).get_hookimpls():
                if not (
                    impl.wrapper or impl.hookwrapper or getattr(impl.function, "_customrun_timed", False)
                ):
                    impl.function = self._timed(impl.function, impl.plugin_name)

    def _timed(self, function: Callable[..., Any], name: str) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                if self._open:  # not when called around the dispatcher (through pluggy's relay)
                    self._open[-1].append((name, (time.perf_counter() - start) * 1e3))

        timed._customrun_timed = True  # type: ignore[attr-defined]
        return timed

    def begin(self) -> float:
        """Start a traced call; returns its start time, for :meth:`end`."""
        self._open.append([])
        return time.perf_counter()

    def end(self, point: str, started: float) -> None:
        """Write the line of the traced call begun at ``started`` (also when it raised)."""
        total = (time.perf_counter() - started) * 1e3
        timings = self._open.pop()
        parts = ", ".join(f"{name} {ms:.3f} ms" for name, ms in timings) or "no implementation"
        self.write(f"[trace] {point} {total:.3f} ms: {parts}")
