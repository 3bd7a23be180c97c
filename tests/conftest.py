"""Shared fixtures: customrun's testing plugin, an isolated working directory per test, and a
one-process torchrun environment."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from customrun_core import distributed

pytest_plugins = ["customrun_core.testing"]


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path, monkeypatch):
    """Every test runs in its own directory, so default work_dirs never collide."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def torchrun_env(monkeypatch: pytest.MonkeyPatch, customrun_isolated: None) -> Iterator[None]:
    """The environment torchrun gives a run of one process; the group is left after the test."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for name, value in {"RANK": 0, "LOCAL_RANK": 0, "WORLD_SIZE": 1, "MASTER_ADDR": "127.0.0.1"}.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.setenv("MASTER_PORT", str(port))
    try:
        yield
    finally:
        distributed.teardown()
