"""Test helpers for customrun and for plugin authors: a pytest plugin, opt-in.

Turn it on with ``pytest -p customrun_core.testing``, ``addopts = "-p customrun_core.testing"`` in
your pytest configuration, or ``pytest_plugins = ["customrun_core.testing"]`` in a top-level
``conftest.py``. Importing it imports no torch; the fixtures import what they need.

Fixtures:

``customrun_config(**changes) -> Path``
    Writes :func:`tiny_config` with ``changes`` (top-level keys, replaced whole) to a TOML file in
    ``tmp_path`` (``config.toml``, then ``config_2.toml``, ...) with ``work_dir = tmp_path/"work"``
    unless ``changes`` give one, and returns its path.

``customrun_run(config=None, *, hooks=(), plugins=None, mode="train", overrides=(), **changes) -> RunResult``
    Runs a tiny training (or ``mode="val"`` / ``"test"``) in this process, on the CPU unless
    ``device=...`` is among the changes, with ``tmp_path`` as the working directory (for the
    whole test, as pytester does: relative ``work_dir``, ``load_from`` and ``custom_imports``
    modules are found there). ``config`` is a mapping, a TOML file or None for
    :func:`tiny_config`; ``changes`` replace its top-level keys, ``overrides`` are ``--set``
    strings (``"train_dataloader.batch_size=719"``) applied last. ``hooks`` are
    :class:`~customrun_core.Hook` instances or pluggy-style plugin objects, added to this run's
    hooks with their own ``priority`` (NORMAL without one). ``plugins`` maps a distribution name
    to the keyword arguments of :func:`make_distribution`; each is installed for this test before
    the run, so a config can name its components. The :class:`RunResult` holds the runner, its work directory,
    what ``train()``/``val()``/``test()`` returned, the metrics and every hook-point call.

    ::

        def test_my_hook_counts_iterations(customrun_run):
            hook = MyHook()
            result = customrun_run(hooks=[hook], overrides=["train_cfg.max_epochs=2"])
            assert hook.count == result.runner.iter
            assert result.calls_to("after_train_iter")[0].brief == ("after_train_iter", 0, 0, 0)

``customrun_cli(*args, in_subprocess=False) -> CliResult``
    Runs ``customrun ARGS`` with ``tmp_path`` as the working directory and returns its exit
    status, stdout and stderr, as a user sees them (without ``CUSTOMRUN_TRACEBACK``). In this
    process by default, through click's ``CliRunner``: an exception that escapes is written to
    stderr as Python would write it, exit status 1. ``in_subprocess=True`` runs ``python -m
    customrun_core`` instead (the distributions of ``customrun_distribution`` are visible there).
    What ``custom_imports`` registered is undone after the test (``customrun_isolated``).

    ::

        def test_a_misspelt_argument_is_one_line(customrun_cli, customrun_config):
            config = customrun_config(train_cfg={"max_epoch": 1})
            result = customrun_cli("train", config)
            assert result.exit_code == 2
            assert result.stderr_lines[0].startswith(f"error: {config}: train_cfg.max_epoch: ")

``customrun_distribution(name, entry_points=..., modules=...) -> Path``
    Installs a distribution written by :func:`make_distribution` for this test (on ``sys.path``
    and ``PYTHONPATH``, so subprocesses see it too) and rescans entry points.

``customrun_isolated``
    What ``customrun_run`` uses to keep tests apart; request it in tests that build runners
    themselves. Components registered with :func:`customrun_core.register` (``custom_imports``),
    model wrappers, ``sys.path`` and the modules imported from ``tmp_path`` are restored after the
    test and the entry-point scan is refreshed.

Marker: ``@pytest.mark.cuda`` on a test that needs a CUDA device; it is skipped when torch sees none.

Helpers (they need no pytest and live in :mod:`customrun_core.testkit`; import them from here):
:func:`tiny_config`, :func:`make_distribution` and :func:`assert_resume_is_exact`.

The record of hook calls comes from a monitor on the run's hook dispatcher (the same call path a
run without it takes), not from a recording hook: it sees every call of every hook point exactly once, in call order, including
points no hook implements (but ``before_optimizer_step``, which the optim wrapper fires only when a
hook implements it), whatever the priorities. A call nested in another one
(``before_save_checkpoint`` inside ``after_train_epoch``) follows the call it is nested in.
"""

from __future__ import annotations

import os
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pytest
import tomli_w

from customrun_core import registry
from customrun_core.testkit import assert_resume_is_exact, logged_scalars, make_distribution, tiny_config

if TYPE_CHECKING:
    from customrun_core.config import RunConfig
    from customrun_core.runner import Runner

__all__ = [
    "CliResult",
    "HookCall",
    "RunResult",
    "assert_resume_is_exact",
    "logged_scalars",
    "make_distribution",
    "tiny_config",
]

MODES = ("train", "val", "test")


@attrs.frozen
class HookCall:
    """One call of a hook point: where the run stood and which arguments it passed.

    Attributes:
        point: the hook point (``"after_train_iter"``).
        epoch: ``runner.epoch`` at the call.
        iter: ``runner.iter`` at the call.
        batch_idx: the ``batch_idx`` argument of per-batch points, else None.
        arguments: the names of the arguments passed besides ``runner``, in the order passed.
    """

    point: str
    epoch: int
    iter: int
    batch_idx: int | None
    arguments: tuple[str, ...]

    @property
    def brief(self) -> tuple[Any, ...]:
        """``(point, epoch, iter)``, with ``batch_idx`` appended for per-batch points."""
        head = (self.point, self.epoch, self.iter)
        return head if self.batch_idx is None else (*head, self.batch_idx)


@attrs.define
class RunResult:
    """What :func:`customrun_run` gives back.

    Attributes:
        runner: the runner, after the run (its model, optim wrapper, loops and hooks).
        work_dir: the run's work directory (checkpoints, ``scalars.jsonl``, ``run.log``).
        returned: what ``runner.train()`` (the model), ``val()`` or ``test()`` (metrics) returned.
        metrics: the metrics of the last validation or test pass after every hook saw them, or
            None when none ran.
        calls: every hook-point call, in call order.
    """

    runner: Runner
    work_dir: Path
    returned: Any
    metrics: dict[str, float] | None
    calls: list[HookCall]

    @property
    def points(self) -> list[str]:
        """The hook point of each call, in call order."""
        return [call.point for call in self.calls]

    def calls_to(self, point: str) -> list[HookCall]:
        """The calls of one hook point."""
        return [call for call in self.calls if call.point == point]


@attrs.frozen
class CliResult:
    """What :func:`customrun_cli` gives back: the command's exit status and what it wrote."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def stderr_lines(self) -> list[str]:
        """stderr's non-empty lines."""
        return [line for line in self.stderr.splitlines() if line.strip()]


class _Recorder:
    """A hook-call monitor (see :meth:`~customrun_core.hooks.dispatch.HookDispatcher.monitor`) that keeps a :class:`HookCall` per call."""

    def __init__(self) -> None:
        self.calls: list[HookCall] = []
        self.metrics: dict[str, float] | None = None

    def __call__(self, point: str, kwargs: Mapping[str, Any]) -> None:
        runner = kwargs["runner"]
        arguments = tuple(name for name in kwargs if name != "runner")
        self.calls.append(HookCall(point, runner.epoch, runner.iter, kwargs.get("batch_idx"), arguments))
        if point in ("after_val_epoch", "after_test_epoch"):
            self.metrics = kwargs["metrics"]  # the dict itself: hooks after this add their entries


def _build_config(config: Any, changes: Mapping[str, Any], overrides: Iterable[str]) -> RunConfig:
    """The validated config: ``config`` (a file has its ``extends`` merged), then ``changes`` on
    its top level, then the ``--set`` ``overrides``."""
    from customrun_core.config.loader import apply_overrides, load_file
    from customrun_core.config.schema import parse_config

    if config is None or isinstance(config, Mapping):
        data, file = dict(tiny_config() if config is None else config), "<config>"
    else:
        data, file = load_file(config), str(config)
    data.update({"device": "cpu", **changes})
    return parse_config(apply_overrides(data, overrides), file)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cuda: needs a CUDA device (skipped when torch sees none)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the tests marked ``cuda`` when torch sees no CUDA device."""
    marked = [item for item in items if "cuda" in item.keywords]
    if not marked:
        return
    import torch

    if not torch.cuda.is_available():
        for item in marked:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA device"))


@pytest.fixture
def customrun_config(tmp_path: Path) -> Callable[..., Path]:
    """A factory: ``customrun_config(**changes)`` writes :func:`tiny_config` with ``changes`` to a
    TOML file in ``tmp_path`` and returns its path."""

    def write(**changes: Any) -> Path:
        data = tiny_config(**{"work_dir": str(tmp_path / "work"), **changes})
        path, n = tmp_path / "config.toml", 1
        while path.exists():
            n += 1
            path = tmp_path / f"config_{n}.toml"
        path.write_text(tomli_w.dumps(data), encoding="utf-8")
        return path

    return write


@pytest.fixture
def customrun_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, customrun_isolated: None
) -> Callable[..., CliResult]:
    """A factory: ``customrun_cli(*args, in_subprocess=False)`` runs ``customrun ARGS`` and
    returns a :class:`CliResult` (see the module's docstring)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CUSTOMRUN_TRACEBACK", raising=False)

    def run(*args: str | os.PathLike[str], in_subprocess: bool = False) -> CliResult:
        argv = [str(arg) for arg in args]
        if in_subprocess:
            done = subprocess.run(
                [sys.executable, "-m", "customrun_core", *argv],
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            return CliResult(done.returncode, done.stdout, done.stderr)
        from click.testing import CliRunner

        from customrun_core.cli import cli

        result = CliRunner().invoke(cli, argv, prog_name="customrun")
        stderr = result.stderr
        if result.exc_info is not None and not isinstance(result.exception, SystemExit):
            stderr += "".join(traceback.format_exception(*result.exc_info))  # what Python prints at exit
        return CliResult(result.exit_code, result.stdout, stderr)

    return run


@pytest.fixture
def customrun_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A factory: ``customrun_distribution(name, entry_points=..., modules=...)`` installs a
    distribution for this test (on ``sys.path`` and ``PYTHONPATH``) and rescans entry points."""
    created: list[str] = []
    roots: list[str] = []

    def install(name: str, **kwargs: Any) -> Path:
        root = make_distribution(tmp_path / f"site-{name}", name, **kwargs)
        monkeypatch.syspath_prepend(str(root))
        roots.append(str(root))
        paths = [str(root), *filter(None, [os.environ.get("PYTHONPATH")])]
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
        created.extend(Path(m).with_suffix("").parts[0] for m in kwargs.get("modules", {}) or {})
        registry.refresh()
        return root

    yield install
    for module in list(sys.modules):
        if module.split(".")[0] in created:
            del sys.modules[module]
    # off sys.path before the rescan (monkeypatch would undo it only later): no stale entries
    sys.path[:] = [entry for entry in sys.path if entry not in roots]
    registry.refresh()


def _imported_from(folder: Path) -> list[str]:
    """The imported modules whose file lies in ``folder``."""
    prefixes = (str(folder) + os.sep, os.path.realpath(folder) + os.sep)
    return [
        name
        for name, module in list(sys.modules.items())
        if str(getattr(module, "__file__", None) or "").startswith(prefixes)
    ]


@pytest.fixture
def customrun_isolated(tmp_path: Path) -> Iterator[None]:
    """Undo what a test's runs left in the process: ``register``-ed components, model wrappers,
    ``sys.path`` entries and modules imported from ``tmp_path``; then rescan entry points."""
    registered = registry.snapshot()
    path = list(sys.path)
    yield
    registered.restore()
    sys.path[:] = path
    for name in _imported_from(tmp_path):
        del sys.modules[name]
    registry.refresh()


@pytest.fixture
def customrun_run(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    customrun_distribution: Callable[..., Path],
    customrun_isolated: None,
) -> Callable[..., RunResult]:
    """A factory: ``customrun_run(config=None, *, hooks=(), plugins=None, mode="train",
    overrides=(), **changes)`` runs in this process and returns a :class:`RunResult` (see the
    module's docstring)."""
    monkeypatch.chdir(tmp_path)
    installed: dict[str, Mapping[str, Any]] = {}

    def install(plugins: Mapping[str, Mapping[str, Any]]) -> None:
        for name, spec in plugins.items():
            if name not in installed:
                customrun_distribution(name, **spec)
                installed[name] = spec
            elif installed[name] != spec:
                raise ValueError(f"distribution {name!r} is already installed in this test, differently")

    def run(
        config: Mapping[str, Any] | str | os.PathLike[str] | None = None,
        *,
        hooks: Iterable[Any] = (),
        plugins: Mapping[str, Mapping[str, Any]] | None = None,
        mode: str = "train",
        overrides: Iterable[str] = (),
        **changes: Any,
    ) -> RunResult:
        if mode not in MODES:
            raise ValueError(f"mode: expected one of {', '.join(MODES)}, got {mode!r}")
        install(plugins or {})
        from customrun_core.runner import Runner

        runner = Runner(_build_config(config, changes, overrides))
        for hook in hooks:
            runner.hooks.add(hook)
        runner.hooks.check_pending()
        recorder = _Recorder()
        runner.hooks.monitor(recorder)
        returned = getattr(runner, mode)()
        assert runner.work_dir is not None
        return RunResult(runner, runner.work_dir, returned, recorder.metrics, recorder.calls)

    return run
