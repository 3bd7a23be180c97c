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

    Implementations are timed by wrapping their functions (pluggy's wrappers are listed but not
    timed, since they run around the others); the total comes from pluggy's call monitoring.
    """

    def __init__(self, points: Collection[str] | None, write: Callable[[str], Any]) -> None:
        self.points = None if points is None else frozenset(points)
        self.write = write
        self._timings: list[tuple[str, float]] = []
        self._started = 0.0

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
                    impl.function = self._timed(impl.function, impl.plugin_name)  # type: ignore[misc]

    def _timed(self, function: Callable[..., Any], name: str) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self._timings.append((name, (time.perf_counter() - start) * 1e3))

        timed._customrun_timed = True  # type: ignore[attr-defined]
        return timed

    def before(self, point: str, impls: Any, kwargs: Any) -> None:
        if self.traces(point):
            self._timings = []
            self._started = time.perf_counter()

    def after(self, outcome: Any, point: str, impls: Any, kwargs: Any) -> None:
        if not self.traces(point):
            return
        total = (time.perf_counter() - self._started) * 1e3
        parts = ", ".join(f"{name} {ms:.3f} ms" for name, ms in self._timings) or "no implementation"
        self.write(f"[trace] {point} {total:.3f} ms: {parts}")
