"""Drawing for ``customrun plot`` (a run's curves) and ``customrun schedule --plot``.

Reading ``scalars.jsonl`` needs only the standard library; matplotlib is imported inside the
functions that draw, so importing this module stays cheap and ``customrun --help`` never pulls it
in. Figures are built with ``matplotlib.figure.Figure`` directly, not ``pyplot``: no backend, no
display and no global figure state are involved, and ``Figure.savefig`` renders through Agg.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from customrun_core.errors import ConfigError, CustomrunError, closest
from customrun_core.scalars import RECORD_KEYS, SCALARS_FILE

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from customrun_core.dry_run import Schedule

MODES = ("train", "val")  # test results are single points, not curves
MAX_MARKED_EPOCHS = 50  # more epoch boundaries than this are a grey smear, not a help
MAX_PIXELS = 2**16  # Agg's limit on either side of an image
INSTALL_HINT = "pip install 'customrun-core[plot]'"


def require_matplotlib() -> None:
    """Raises :class:`CustomrunError` (one line naming the extra to install) when matplotlib is
    not installed."""
    try:
        import matplotlib.figure  # noqa: F401
    except ImportError:
        raise CustomrunError(f"drawing needs matplotlib, which is not installed: {INSTALL_HINT}") from None


# --- reading scalars.jsonl -------------------------------------------------------------------


@dataclass
class Run:
    """The curves of one run.

    Attributes:
        name: the legend label (the work directory's name, unless that is ambiguous).
        source: the ``scalars.jsonl`` file read.
        series: ``series[(mode, key)] = (steps, values)``, steps increasing, a ``None`` (null in the
            file: a non-finite value) as NaN so that the line shows a gap there.
    """

    name: str
    source: Path
    series: dict[tuple[str, str], tuple[list[int], list[float]]] = field(default_factory=dict)

    def logged_keys(self) -> list[str]:
        """Every key with a curve, train keys first, each in the order of its first record."""
        return list(dict.fromkeys(key for mode in MODES for (m, key) in self.series if m == mode))


def scalars_path(path: str | Path) -> Path:
    """The ``scalars.jsonl`` of a work directory (or the file itself when given one).

    Raises:
        CustomrunError: there is no such file.
    """
    path = Path(path)
    target = path if path.is_file() else path / SCALARS_FILE
    if not target.is_file():
        raise CustomrunError(
            f"{path}: no {SCALARS_FILE} (expected the work directory of a run, where LoggerHook writes it)"
        )
    return target


def _number(value: Any) -> float | None:
    """The value as a float for plotting; None for anything that is not a number or null."""
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def read_run(path: str | Path, name: str | None = None) -> tuple[Run, list[str]]:
    """Every train and val curve in a run's ``scalars.jsonl``, and warnings about skipped lines.

    A line that is not a JSON object with an integer ``step`` (a run still writing its last line)
    is skipped with a warning. Non-numeric values are ignored. When a step is logged twice in a
    mode (a resumed run logs again the steps after its checkpoint), the later value wins.

    Raises:
        CustomrunError: no ``scalars.jsonl``, or one without a single train or val record.
    """
    source = scalars_path(path)
    warnings: list[str] = []
    points: dict[tuple[str, str], dict[int, float]] = {}
    with open(source, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                record = None
            step = record.get("step") if isinstance(record, dict) else None
            if not isinstance(step, int) or isinstance(step, bool):
                warnings.append(
                    f"{source}:{number}: not a JSON record with a step (a run still writing?), skipped"
                )
                continue
            if record.get("mode", "train") not in MODES:
                continue
            for key, value in record.items():
                y = _number(value)
                if key not in RECORD_KEYS and y is not None:
                    points.setdefault((record.get("mode", "train"), key), {})[step] = y
    if not points:
        raise CustomrunError(f"{source}: no train or val values in it yet")
    series = {
        where: (sorted(by_step), [by_step[s] for s in sorted(by_step)]) for where, by_step in points.items()
    }
    return Run(name or run_names([path])[0], source, series), warnings


def run_names(paths: Sequence[str | Path]) -> list[str]:
    """Legend labels: each directory's name, or the path as given where names repeat."""
    names = [Path(p).resolve().name if Path(p).is_dir() else Path(p).resolve().parent.name for p in paths]
    return [name if names.count(name) == 1 else str(p) for name, p in zip(names, paths, strict=True)]


def available_keys(runs: Iterable[Run]) -> list[str]:
    """Every key any of the runs logged, in the order of :meth:`Run.logged_keys`."""
    return list(dict.fromkeys(k for run in runs for k in run.logged_keys()))


def default_keys(runs: Iterable[Run]) -> list[str]:
    """Every train loss (a key with ``loss`` in its name), then ``lr``, then every val metric."""
    runs = list(runs)
    train = [k for run in runs for (mode, k) in run.series if mode == "train"]
    val = [k for run in runs for (mode, k) in run.series if mode == "val"]
    keys = [k for k in train if "loss" in k] + [k for k in train if k == "lr"] + val
    return list(dict.fromkeys(keys))


def parse_keys(text: str, runs: Sequence[Run]) -> list[str]:
    """The comma-separated keys of ``--keys``, each checked against the keys the runs logged.

    Raises:
        ConfigError: an empty list, or a key no run logged (with the closest logged keys).
    """
    keys = list(dict.fromkeys(k.strip() for k in text.split(",") if k.strip()))
    available = available_keys(runs)
    if not keys:
        raise ConfigError(
            f"expected comma-separated keys, one of {', '.join(available)}; got {text!r}", key="--keys"
        )
    for key in keys:
        if key not in available:
            where = runs[0].source if len(runs) == 1 else f"any of the {len(runs)} runs"
            raise ConfigError(
                f"no key {key!r} in {where}; available: {', '.join(available)}",
                key="--keys",
                suggestions=closest(key, available),
            )
    return keys


def choose_keys(text: str | None, runs: Sequence[Run]) -> list[str]:
    """The keys of ``--keys`` (see :func:`parse_keys`) or, without it, :func:`default_keys`.

    Raises:
        ConfigError: a wrong ``--keys``, or no default key logged (a run that logged only times).
    """
    if text is not None:
        return parse_keys(text, runs)
    keys = default_keys(runs)
    if not keys:
        raise ConfigError(
            f"no loss, lr or val metric to draw by default; choose from {', '.join(available_keys(runs))}",
            key="--keys",
        )
    return keys


# --- figures ---------------------------------------------------------------------------------


def _figure(size: tuple[float, float], dpi: int) -> Figure:
    """An empty figure of ``size`` inches at ``dpi``, once :func:`check_pixels` has passed."""
    from matplotlib.figure import Figure

    check_pixels(size, dpi)
    return Figure(figsize=size, dpi=dpi, layout="constrained")


def _grid(fig: Figure, count: int, columns: int) -> list[Any]:
    """``count`` axes in rows of ``columns`` sharing the x axis; unused cells are removed."""
    rows = math.ceil(count / columns)
    grid = fig.subplots(rows, columns, sharex=True, squeeze=False)
    cells = [ax for row in grid for ax in row]
    for ax in cells[count:]:
        fig.delaxes(ax)
    for ax in cells[max(0, count - columns) : count]:
        ax.tick_params(labelbottom=True)  # the lowest axis of each column shows its steps
    return cells[:count]


def curves_columns(count: int) -> int:
    """One column up to four subplots, then two."""
    return 1 if count <= 4 else 2


def default_size(count: int, columns: int = 1) -> tuple[float, float]:
    """The default figure size in inches for ``count`` subplots in rows of ``columns``: 8 wide
    and 2.5 high a subplot (at least 3 high)."""
    return (8.0 * columns, max(3.0, 2.5 * math.ceil(count / columns)))


def curves_figure(
    runs: Sequence[Run],
    keys: Sequence[str],
    size: tuple[float, float] | None = None,
    dpi: int = 100,
    log_y: str | None = None,
) -> Figure:
    """One subplot per key, titled by the key, x the step; in each, one line per run and mode.

    Train values are a plain line, val values a dashed line with a marker at each validation; a
    train value :func:`~customrun_core.plot_axes.drawn_as_steps` picks (lr) as ``steps-pre``. The
    subplots :func:`~customrun_core.plot_axes.log_keys` picks from ``log_y`` have a log y axis.
    Lines are added run by run, train before val, and skip runs that did not log the key; run
    ``i`` has colour ``Ci``. A legend appears where a subplot has more than one line: the run's
    name when several runs are drawn (with `` (val)`` where a run has both modes), else the mode.

    Raises:
        ConfigError: a wrong ``log_y``, or an image larger than Agg can draw (:func:`check_pixels`).
    """
    from customrun_core import plot_axes

    require_matplotlib()
    logarithmic = plot_axes.log_keys(log_y, keys, [run.series for run in runs])
    columns = curves_columns(len(keys))
    fig = _figure(size or default_size(len(keys), columns), dpi)
    axes = _grid(fig, len(keys), columns)
    for ax, key in zip(axes, keys, strict=True):
        for index, run in enumerate(runs):
            modes = [mode for mode in MODES if (mode, key) in run.series]
            for mode in modes:
                steps, values = run.series[(mode, key)]
                label = mode if len(runs) == 1 else run.name + (f" ({mode})" if len(modes) > 1 else "")
                style = {"linestyle": "--", "marker": "o", "markersize": 3} if mode == "val" else {}
                if plot_axes.drawn_as_steps(key, mode, values):
                    style = {"drawstyle": "steps-pre"}
                ax.plot(steps, values, color=f"C{index % 10}", label=label, linewidth=1.2, **style)
        if key in logarithmic:
            ax.set_yscale("log", nonpositive="mask")
        ax.set_title(key)
        ax.grid(True, alpha=0.3)
        if len(ax.lines) > 1:
            ax.legend(fontsize="small")
    for ax in axes[-columns:]:
        ax.set_xlabel("iteration (step)")
    return fig


def epoch_count(schedule: Schedule) -> int:
    """The number of epochs the schedule spans (an iteration-based loop is one epoch)."""
    if not schedule.by_epoch:
        return 1
    return math.ceil(schedule.max_iters / schedule.iters_per_epoch)


def schedule_figure(
    schedule: Schedule, size: tuple[float, float] | None = None, dpi: int = 100, title: str = ""
) -> Figure:
    """One subplot per scheduled key; one line per parameter group (``group g``), x the iteration.

    ``ax.lines[g]`` holds group ``g``'s value during each iteration (drawn as steps: a value
    holds for a whole iteration). An epoch-based loop of at most ``MAX_MARKED_EPOCHS`` epochs gets
    a dotted vertical line at each boundary between epochs (one ``LineCollection`` in
    ``ax.collections``); the figure's title says whether they are marked.

    Raises:
        CustomrunError: nothing is scheduled.
        ConfigError: the image would be larger than Agg can draw (see :func:`check_pixels`).
    """
    require_matplotlib()
    keys = list(schedule.values)
    if not keys or schedule.max_iters == 0:
        raise CustomrunError("nothing to plot: the config has no parameter schedulers")
    fig = _figure(size or default_size(len(keys)), dpi)
    axes = _grid(fig, len(keys), 1)
    epochs = epoch_count(schedule)
    marked = schedule.by_epoch and 1 < epochs <= MAX_MARKED_EPOCHS
    boundaries = [e * schedule.iters_per_epoch for e in range(1, epochs)] if marked else []
    iterations = list(range(schedule.max_iters))
    for ax, key in zip(axes, keys, strict=True):
        rows = schedule.values[key]
        for g in range(len(rows[0])):
            ax.plot(iterations, [row[g] for row in rows], drawstyle="steps-post", label=f"group {g}")
        if boundaries:
            ax.vlines(boundaries, 0, 1, transform=ax.get_xaxis_transform(), colors="grey", linestyles=":")
        ax.set_title(key)
        ax.grid(True, alpha=0.3)
        if len(rows[0]) > 1:
            ax.legend(fontsize="small", ncol=math.ceil(len(rows[0]) / 8))
    axes[-1].set_xlabel("iteration")
    fig.suptitle(f"{title}{': ' if title else ''}{_epochs_note(schedule, epochs, marked)}", fontsize="medium")
    return fig


def _epochs_note(schedule: Schedule, epochs: int, marked: bool) -> str:
    if not schedule.by_epoch:
        return f"{schedule.max_iters} iterations (an iteration-based loop)"
    text = f"{epochs} epochs of {schedule.iters_per_epoch} iterations"
    if marked:
        return text + " (dotted: epoch boundaries)"
    if epochs > MAX_MARKED_EPOCHS:
        return text + f" (epoch boundaries not marked: more than {MAX_MARKED_EPOCHS})"
    return text


# --- sizes and files -------------------------------------------------------------------------


def parse_size(text: str) -> tuple[float, float]:
    """``W,H`` in inches, both positive.

    Raises:
        ConfigError: not two positive numbers.
    """
    parts = text.split(",")
    try:
        width, height = (float(p) for p in parts)
    except ValueError:
        width = height = math.nan
    if not (width > 0 and height > 0 and math.isfinite(width) and math.isfinite(height)):
        raise ConfigError(
            f"expected W,H in inches (two positive numbers, e.g. 8,6), got {text!r}", key="--size"
        )
    return width, height


def check_pixels(size: tuple[float, float], dpi: int) -> None:
    """Raises :class:`ConfigError` when the image would be larger than Agg can draw."""
    width, height = (round(side * dpi) for side in size)
    if max(width, height) >= MAX_PIXELS:
        raise ConfigError(
            f"expected an image under {MAX_PIXELS} pixels a side, got {width}x{height} "
            f"({size[0]:g}x{size[1]:g} inches at {dpi} dpi)",
            key="--size",
        )


def check_image_path(path: str | Path, option: str) -> Path:
    """The output file, checked before any work: its suffix must be a format matplotlib writes.

    Raises:
        ConfigError: no suffix or an unknown one (with the closest formats).
    """
    require_matplotlib()
    from matplotlib.backend_bases import FigureCanvasBase

    path = Path(path)
    formats = sorted(FigureCanvasBase.get_supported_filetypes())
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in formats:
        raise ConfigError(
            f"expected a file name ending in .{', .'.join(formats)}; got {str(path)!r}",
            key=option,
            suggestions=[str(path.with_suffix(f".{s}")) for s in closest(suffix, formats)]
            if suffix
            else [f"{path}.png"],
        )
    return path


def save(fig: Figure, path: Path) -> None:
    """Writes the figure at its own size and dpi (so pixels = inches x dpi), creating the folder.

    Raises:
        CustomrunError: the file cannot be written.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=fig.dpi)
    except OSError as error:
        raise CustomrunError(f"{path}: cannot write the image: {error.strerror or error}") from None
