"""Shared fixtures: customrun's testing plugin and an isolated working directory per test."""

from __future__ import annotations

import pytest

pytest_plugins = ["customrun_core.testing"]


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path, monkeypatch):
    """Every test runs in its own directory, so default work_dirs never collide."""
    monkeypatch.chdir(tmp_path)
