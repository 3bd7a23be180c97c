"""The per-parameter reference LARS, loaded from its file (the tests folder is not a package)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

REFERENCE = Path(__file__).with_name("reference_lars.py")


def load_reference() -> Any:
    """The ``ReferenceLARS`` class of ``reference_lars.py``."""
    spec = importlib.util.spec_from_file_location("customrun_lars_reference", REFERENCE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ReferenceLARS


@pytest.fixture(scope="session")
def reference_lars() -> Any:
    """MMPretrain's LARS, one parameter at a time."""
    return load_reference()
