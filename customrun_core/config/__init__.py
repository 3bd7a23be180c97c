"""Configs: TOML read with ``extends`` and ``--set``, validated into frozen attrs classes (no torch)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from customrun_core.config.loader import apply_changes, apply_overrides, load_file, merge
from customrun_core.config.schema import CustomImports, Randomness, RunConfig, parse_config
from customrun_core.config.values import check_values

__all__ = ["CustomImports", "Randomness", "RunConfig", "load_config", "merge"]


def load_config(
    source: str | os.PathLike[str] | Mapping[str, Any],
    overrides: Iterable[str] = (),
    changes: Mapping[str, Any] | None = None,
) -> RunConfig:
    """A validated config from a TOML file or a mapping, with ``--set`` overrides applied, then
    ``changes`` (dotted key path -> value, e.g. ``{"device": "cuda:1"}``) set the same way; all of
    it is validated together, so a bad value is the same error whichever way it came."""
    if isinstance(source, Mapping):
        data, file = dict(source), "<config>"
        check_values(data, file)
    else:
        data, file = load_file(source), str(source)
    data = apply_overrides(data, overrides)
    data = apply_changes(data, ((key.split("."), value) for key, value in (changes or {}).items()))
    return parse_config(data, file)
