"""What an unknown ``type`` error tells the user to do: the known plugin that provides the name
(first-party, or an example of customrun's repository) and the pip line that installs it, or a
did-you-mean that is really close.

In a checkout of customrun the plugins are not on the package index yet: when the distribution's
folder is found under ``plugins/`` or ``examples/plugins/`` of a checkout above the working
directory or the config file, the hint also gives ``pip install -e <folder>``, relative to the
working directory. Only metadata and ``pyproject.toml`` files are read; nothing is imported.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable
from pathlib import Path

from customrun_core.errors import ComponentError, closest
from customrun_core.import_paths import search_dirs
from customrun_core.plugin_policy import normalize_name

__all__ = [
    "CHECKOUT_FOLDERS",
    "EXAMPLE_PLUGINS",
    "FIRST_PARTY",
    "checkout_folder",
    "install_hint",
    "provider",
    "unknown",
]

# Components that a first-party plugin provides (published as customrun-<name>); a test checks
# this table against the entry points of plugins/*/pyproject.toml.
FIRST_PARTY: dict[tuple[str, str], str] = {
    ("hooks", "EMAHook"): "customrun-ema",
    ("hooks", "MLflowLoggerHook"): "customrun-mlflow",
    ("optimizers", "LARS"): "customrun-lars",
    ("optimizers", "Lamb"): "customrun-lars",
    ("optim_wrappers", "AmpOptimWrapper"): "customrun-amp",
    ("optim_wrapper_constructors", "LearningRateDecayOptimizerConstructor"): "customrun-layer-decay",
    ("optim_wrapper_constructors", "LearningRateDecayOptimWrapperConstructor"): "customrun-layer-decay",
    ("optim_wrapper_constructors", "LayerDecayOptimizerConstructor"): "customrun-layer-decay",
    ("param_schedulers", "CosineAnnealingLR"): "customrun-cosine",
    ("param_schedulers", "CosineAnnealingParamScheduler"): "customrun-cosine",
    ("param_schedulers", "CosineAnnealingMomentum"): "customrun-cosine",
    ("param_schedulers", "CosineAnnealingWeightDecay"): "customrun-cosine",
    ("param_schedulers", "CosineRestartLR"): "customrun-cosine",
    ("param_schedulers", "CosineRestartMomentum"): "customrun-cosine",
    ("param_schedulers", "CosineRestartParamScheduler"): "customrun-cosine",
    ("hooks", "WandbLoggerHook"): "customrun-wandb",
}

# Components of the example plugins (examples/plugins/*): not on the package index, installed
# from a checkout only; checked against their pyproject.toml files as FIRST_PARTY is.
EXAMPLE_PLUGINS: dict[tuple[str, str], str] = {
    ("hooks", "EpochSummaryHook"): "customrun-epoch-summary",
}

# Where a checkout of customrun keeps its distributions, relative to its root.
CHECKOUT_FOLDERS = ("plugins", "examples/plugins")


def checkout_folder(dist: str, starts: Iterable[str | Path]) -> Path | None:
    """The folder ``<root>/plugins/<dist>`` (or ``<root>/examples/plugins/<dist>``) whose
    ``pyproject.toml`` names the project ``dist``, for the nearest ``root`` at or above one of
    ``starts`` (tried in order); None when there is none."""
    for start in starts:
        for root in (Path(start).resolve(), *Path(start).resolve().parents):
            for folder in CHECKOUT_FOLDERS:
                candidate = root / folder / dist
                if _project_name(candidate / "pyproject.toml") == normalize_name(dist):
                    return candidate
    return None


def _project_name(pyproject: Path) -> str | None:
    try:
        with pyproject.open("rb") as file:
            name = tomllib.load(file).get("project", {}).get("name")
    except (OSError, tomllib.TOMLDecodeError):
        return None
    return normalize_name(name) if isinstance(name, str) else None


def install_hint(dist: str, *, example: bool = False) -> str:
    """How to install ``dist``: ``pip install DIST``, and in a checkout (found from the config
    file's directory and the working directory) ``pip install -e FOLDER`` as well, the folder
    relative to the working directory. An example plugin is installed from a checkout only."""
    folder = checkout_folder(dist, search_dirs())
    local = f"pip install -e {_relative(folder)}" if folder is not None else None
    if example:
        return (
            local
            or f"pip install -e examples/plugins/{dist} in a checkout of customrun (not on the package index)"
        )
    return f"pip install {dist}" + (f" (from this checkout: {local})" if local else "")


def _relative(folder: Path) -> str:
    """``folder`` as pip reads it from the working directory: a relative path with a separator in
    it (``plugins/x``, ``./x``: a bare ``x`` would be a distribution's name on the index)."""
    try:
        text = os.path.relpath(folder)
    except ValueError:  # on another drive (Windows)
        return str(folder)
    return text if text == "." or os.sep in text else f".{os.sep}{text}"


def provider(kind: str, name: str) -> tuple[str, bool] | None:
    """The known plugin providing ``name`` of ``kind``, and whether it is an example one."""
    if (kind, name) in FIRST_PARTY:
        return FIRST_PARTY[kind, name], False
    if (kind, name) in EXAMPLE_PLUGINS:
        return EXAMPLE_PLUGINS[kind, name], True
    return None


def unknown(kind: str, label: str, group: str, type_name: str, known: Iterable[str]) -> ComponentError:
    """The error for ``type = type_name`` that nothing of ``kind`` (``label`` in messages, entry-point
    group ``group``) resolves: what to install when a known plugin provides the name; else the
    names in ``known`` and known plugins' names within a typo of it (:func:`closest`, strict),
    with what to install for the plugins' ones."""
    found = provider(kind, type_name)
    if found is not None:
        dist, example = found
        which = "the example plugin" if example else "the plugin"
        return ComponentError(
            f"{label} {type_name!r} is provided by {which} {dist}, which is not installed: "
            + install_hint(dist, example=example)
        )
    installed = set(known)
    plugins = {name for k, name in [*FIRST_PARTY, *EXAMPLE_PLUGINS] if k == kind}
    suggestions = closest(type_name, installed | plugins, strict=True)
    notes = [
        f"; {name!r} is in {dist}: {install_hint(dist, example=example)}"
        for name in suggestions
        if name not in installed
        for dist, example in [provider(kind, name) or ("?", False)]
    ]
    return ComponentError(
        f"unknown {label} {type_name!r} (no entry point in group {group}, "
        f"no registered name, no import path{''.join(notes)})",
        suggestions=suggestions,
    )
