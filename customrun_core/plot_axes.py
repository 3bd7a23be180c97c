"""How ``customrun plot`` draws each key: which subplots get a log y axis, which lines are steps.

Plain data decisions, no matplotlib: :func:`customrun_core.plotting.curves_figure` applies them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence

from customrun_core.errors import ConfigError, closest

AUTO_LOG_KEYS = ("lr",)  # keys whose subplot turns logarithmic by itself when its values call for it
AUTO_LOG_DECADES = 2  # ... which is when its positive values span more than this many decades
ALL = "all"  # --log-y all: every subplot


def is_lr_like(key: str) -> bool:
    """A learning rate or momentum, as logged (``lr``, ``base_lr``, ``group1.lr``, ``momentum``):
    set by a schedule, held for whole iterations."""
    last = key.replace("/", ".").rsplit(".", 1)[-1]
    return last in ("lr", "base_lr", "momentum")


def spans_decades(values: Iterable[float], decades: float = AUTO_LOG_DECADES) -> bool:
    """Whether the positive finite ``values`` span more than ``decades`` powers of ten (largest over
    smallest > 10**decades). Zeros (a warm-up from 0) and gaps do not count."""
    positive = [v for v in values if math.isfinite(v) and v > 0]
    return bool(positive) and max(positive) > min(positive) * 10**decades


def piecewise_constant(values: Sequence[float]) -> bool:
    """Whether a train series holds its value over runs of logged steps: at least 3 points, and at
    most half of the consecutive pairs differ (a step schedule, an AMP loss scale; never a loss)."""
    pairs = list(itertools.pairwise(values))
    return len(values) >= 3 and sum(a != b for a, b in pairs) * 2 <= len(pairs)


def drawn_as_steps(key: str, mode: str, values: Sequence[float]) -> bool:
    """Whether a line is drawn as steps: a train value that is lr-like (:func:`is_lr_like`) or
    :func:`piecewise_constant`. Val metrics are points joined by lines: each is one evaluation.

    The steps are ``steps-pre``: x is the step (finished iterations) and the value logged at step s
    is the one the iterations up to s used (the latest lr, or a value held since the last record),
    so an epoch-based step schedule drops at the epoch boundary, where it did; ``steps-post`` would
    draw the drop one logging interval late.
    """
    return mode == "train" and (is_lr_like(key) or piecewise_constant(values))


Series = Mapping[tuple[str, str], tuple[Sequence[int], Sequence[float]]]  # a Run's series


def log_keys(text: str | None, keys: Sequence[str], runs: Iterable[Series]) -> set[str]:
    """The subplots with a log y axis: those ``--log-y`` names (comma-separated, or ``all``), and each
    of :data:`AUTO_LOG_KEYS` whose values (every run's, train and val) span more than
    :data:`AUTO_LOG_DECADES` decades. On a log axis, values <= 0 are left out of the line.

    Raises:
        ConfigError: an empty ``--log-y``, or a key that is not one of the subplots ``keys``.
    """
    series = list(runs)
    chosen = {
        k
        for k in AUTO_LOG_KEYS
        if k in keys
        and spans_decades(v for s in series for (_, key), (_, vs) in s.items() if key == k for v in vs)
    }
    if text is None:
        return chosen
    named = list(dict.fromkeys(k.strip() for k in text.split(",") if k.strip()))
    if named == [ALL]:
        return set(keys)
    if not named:
        raise ConfigError(
            f"expected {ALL} or comma-separated keys of {', '.join(keys)}; got {text!r}", key="--log-y"
        )
    for key in named:
        if key not in keys:
            raise ConfigError(
                f"{key!r} is not one of the plotted keys: {', '.join(keys)}",
                key="--log-y",
                suggestions=closest(key, keys),
            )
    return chosen | set(named)
