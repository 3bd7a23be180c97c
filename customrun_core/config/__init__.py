"""Configs: TOML read with ``extends`` and ``--set``, validated into frozen attrs classes (no torch)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from customrun_core.config.loader import apply_changes, apply_overrides, load_with_origins, merge
from customrun_core.config.origins import Origins, attributed
from customrun_core.config.schema import CustomImports, Randomness, RunConfig, parse_config
from customrun_core.config.values import check_values

__all__ = ["CustomImports", "Randomness", "RunConfig", "attributed", "load_config", "merge"]


def load_config(
    source: str | os.PathLike[str] | Mapping[str, Any],
    overrides: Iterable[str] = (),
    changes: Mapping[str, Any] | None = None,
) -> RunConfig:
    """A validated config from a TOML file or a mapping, with ``--set`` overrides applied, then
    ``changes`` (dotted key path -> value, e.g. ``{"device": "cuda:1"}``) set the same way; all of
    it is validated together, so a bad value is the same error whichever way it came."""
    origins: Origins = {}  # where each key came from, for error lines only
    if isinstance(source, Mapping):
        data, file = dict(source), "<config>"
        check_values(data, file)
    else:
        (data, origins), file = load_with_origins(source), str(source)
        origins = dict(origins)
    data = apply_overrides(data, overrides, origins)
    # the command line's own options (--work-dir, --device) are errors in the config, as they were
    given = ((key.split("."), value) for key, value in (changes or {}).items())
    data = apply_changes(data, given, origins, origin=file)
    return parse_config(data, file, origins)
