"""``customrun convert``: MMEngine Python configs to customrun TOML, without executing them.

::

    conversion = convert_file("old_cfg.py")
    text = to_toml(conversion.data, "old_cfg.py")
    for report in conversion.reports: print(report.render())

The file is parsed with ``ast`` (:mod:`.evaluate`, :mod:`.statements`), its ``_base_`` files
merged as MMEngine merges them (:mod:`.inherit`), and the result translated key by key
(:mod:`.translate`), ``type`` names checked against what customrun can resolve
(:mod:`.components`). Nothing in the file, its bases or its ``custom_imports`` is imported.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs

from customrun_core.convert import preflight, toml_writer
from customrun_core.convert.components import ComponentNames
from customrun_core.convert.inherit import read_config
from customrun_core.convert.report import Report
from customrun_core.convert.translate import Translator
from customrun_core.errors import ConfigError

__all__ = ["Conversion", "Report", "convert_file", "to_toml"]


@attrs.frozen
class Conversion:
    """The customrun config (TOML-ready data) and what was left out or kept with a caveat."""

    data: dict[str, Any]
    reports: list[Report]


def convert_file(
    path: str | os.PathLike[str], module_dirs: Iterable[str | os.PathLike[str]] = ()
) -> Conversion:
    """Convert the MMEngine config at ``path``.

    Args:
        path: the Python config file.
        module_dirs: where the config's ``custom_imports`` modules are looked for (their source
            is read for ``@register`` names), besides the working directory and ``sys.path``.

    Raises:
        ConfigError: the file (or a ``_base_`` file) is missing or is not valid Python, or the
            bases cannot be merged (see :func:`customrun_core.convert.inherit.read_config`).
    """
    try:
        config = read_config(path)
    except RecursionError:  # an expression nested thousands deep: Python's own parser gives up
        raise ConfigError("nested too deeply to convert", file=str(path)) from None
    dirs = [Path(d) for d in module_dirs] + [Path.cwd()] + [Path(p).resolve() for p in sys.path if p]
    imports = config.values.get("custom_imports")
    modules = imports.get("imports", []) if isinstance(imports, dict) else []
    modules = [modules] if isinstance(modules, str) else modules  # one module, as MMEngine allows
    names = ComponentNames(
        [m for m in modules if isinstance(m, str)] if isinstance(modules, list) else [], dirs
    )
    translator = Translator(config, names)
    data = preflight.fit(translator.run(), names.stand_ins, translator.report)
    return Conversion(data, config.reports + translator.reports)


def to_toml(data: dict[str, Any], source: str | os.PathLike[str]) -> str:
    """``data`` as TOML, top-level values first and tables after, under a line naming ``source``."""
    header = f"# Converted from {Path(source).name} by customrun convert.\n"
    return header + toml_writer.dumps(data)
