"""Cost of firing one hook point with 0, 1 and 10 implementations.

What the train loop pays per hook point and iteration: ``runner.call_hook("before_train_iter",
batch_idx=..., data_batch=...)`` through customrun's :class:`HookDispatcher` (its per-point table),
also with a monitor attached (as ``customrun_core.testing`` records a run), against the floor (a Python loop calling the same functions directly) and, when it is installed,
MMEngine's ``Runner.call_hook`` (a loop over every hook with ``hasattr``). Each implementation is a
method that returns at once, so the times are the dispatch alone. The variants take turns in every
round (rotated order); the figures are nanoseconds per call: median, fastest and slowest round.

    python benchmarks/hook_dispatch.py [--rounds 15] [--calls 20000] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from machine import interleaved

COUNTS = (0, 1, 10)


def customrun_dispatch(count: int, monitored: bool = False) -> Callable[[], None]:
    """One ``Runner.call_hook`` of ``before_train_iter`` with ``count`` implementing hooks, and a
    monitor that does nothing when ``monitored``."""
    from customrun_core import Hook
    from customrun_core.hooks.dispatch import HookDispatcher
    from customrun_core.runner import Runner

    class Noop(Hook):
        def before_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None) -> None:
            return None

    runner = SimpleNamespace(hooks=HookDispatcher())
    for index in range(count):
        runner.hooks.add(Noop(), name=f"noop{index}")
    if monitored:
        runner.hooks.monitor(lambda point, kwargs: None)
    call_hook = Runner.call_hook  # the loop's path: Runner.call_hook -> HookDispatcher.fire

    def fire() -> None:
        call_hook(runner, "before_train_iter", batch_idx=0, data_batch=None)

    return fire


def monitored_dispatch(count: int) -> Callable[[], None]:
    return customrun_dispatch(count, monitored=True)


def mmengine_dispatch(count: int) -> Callable[[], None]:
    """MMEngine's ``Runner.call_hook`` over ``count`` hooks that implement the point and the six
    default hooks that do not (MMEngine's base Hook defines every point as a no-op method)."""
    from mmengine.hooks import Hook
    from mmengine.runner import Runner

    class Noop(Hook):
        def before_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None) -> None:
            return None

    runner = SimpleNamespace(_hooks=[Noop() for _ in range(count)])
    call_hook = Runner.call_hook

    def fire() -> None:
        call_hook(runner, "before_train_iter", batch_idx=0, data_batch=None)

    return fire


def direct_dispatch(count: int) -> Callable[[], None]:
    """The floor: a loop calling ``count`` bound methods with the same keyword arguments."""

    class Noop:
        def before_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None) -> None:
            return None

    methods = [Noop().before_train_iter for _ in range(count)]
    runner = object()

    def fire() -> None:
        for method in methods:
            method(runner, batch_idx=0, data_batch=None)

    return fire


def contenders(with_mmengine: bool) -> dict[str, Callable[[], None]]:
    makers: dict[str, Callable[[int], Callable[[], None]]] = {
        "customrun Runner.call_hook": customrun_dispatch,
        "customrun Runner.call_hook, monitored": monitored_dispatch,
        "direct method calls (floor)": direct_dispatch,
    }
    if with_mmengine:
        makers["MMEngine Runner.call_hook"] = mmengine_dispatch
    return {f"{name}|{count}": make(count) for name, make in makers.items() for count in COUNTS}


def measure(fires: dict[str, Callable[[], None]], rounds: int, calls: int) -> dict[str, list[float]]:
    """Nanoseconds per call of each function, one figure per round, the order rotated each round."""
    return {name: [t * 1e9 for t in times] for name, times in interleaved(fires, rounds, calls).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--json", type=Path, help="write the per-round figures here")
    args = parser.parse_args()
    try:
        import mmengine.runner  # noqa: F401

        with_mmengine = True
    except ImportError:
        with_mmengine = False
    times = measure(contenders(with_mmengine), args.rounds, args.calls)
    if args.json:
        args.json.write_text(json.dumps(times), encoding="utf-8")
    print("| dispatcher | implementations | ns per call, median | fastest | slowest |")
    print("|---|---:|---:|---:|---:|")
    for key, values in times.items():
        name, count = key.split("|")
        print(
            f"| {name} | {count} | {statistics.median(values):.0f} | {min(values):.0f} | {max(values):.0f} |"
        )


if __name__ == "__main__":
    main()
