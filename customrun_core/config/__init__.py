"""Configs: TOML read with ``extends`` and ``--set``, validated into frozen attrs classes (no torch)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from customrun_core.config.loader import apply_overrides, load_file, merge
from customrun_core.config.schema import CustomImports, Randomness, RunConfig, parse_config

__all__ = ["CustomImports", "Randomness", "RunConfig", "load_config", "merge"]


def load_config(
    source: str | os.PathLike[str] | Mapping[str, Any], overrides: Iterable[str] = ()
) -> RunConfig:
    """A validated config from a TOML file or a mapping, with ``--set`` overrides applied."""
    if isinstance(source, Mapping):
        data, file = dict(source), "<config>"
    else:
        data, file = load_file(source), str(source)
    data = apply_overrides(data, overrides)
    return parse_config(data, file)
