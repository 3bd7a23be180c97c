"""customrun_core.testing: the fixtures plugin authors test with (customrun_config, customrun_run, ...)."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
import tomllib
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from customrun_core import Hook, hookimpl, hookspecs, registry
from customrun_core.hooks.defaults import DEFAULT_HOOKS
from customrun_core.testing import RunResult, tiny_config

pytest_plugins = ["pytester"]

# 2 training batches per epoch (1,438 images), 1 validation and 1 test batch (359 each)
FAST = [
    "train_dataloader.batch_size=719",
    "val_dataloader.batch_size=359",
    "test_dataloader.batch_size=359",
    "default_hooks.logger=false",
]

# One epoch of 2 batches, validation after it (reference 1.4).
EPOCH = [
    ("before_run", 0, 0),
    ("before_train", 0, 0),
    ("before_train_epoch", 0, 0),
    ("before_train_iter", 0, 0, 0), ("after_train_iter", 0, 0, 0),
    ("before_train_iter", 0, 1, 1), ("after_train_iter", 0, 1, 1),
    ("after_train_epoch", 0, 2),
    ("before_save_checkpoint", 0, 2),  # CheckpointHook, nested in after_train_epoch
    ("before_val", 1, 2), ("before_val_epoch", 1, 2),
    ("before_val_iter", 1, 2, 0), ("after_val_iter", 1, 2, 0),
    ("after_val_epoch", 1, 2), ("after_val", 1, 2),
    ("after_train", 1, 2),
    ("after_run", 1, 2),
]  # fmt: skip

PROBE_SOURCE = """
from customrun_core import Hook

STARTS = []


class ProbeHook(Hook):
    def before_train(self, runner):
        STARTS.append(runner.iter)
"""


def probe_distribution(module: str = "fixture_probe") -> dict[str, Any]:
    """make_distribution arguments of a distribution with one hook, ``ProbeHook``."""
    return {
        "entry_points": {"customrun.hooks": {"ProbeHook": f"{module}:ProbeHook"}},
        "modules": {f"{module}.py": PROBE_SOURCE},
    }


def logging_plugin(tag: str, log: list[tuple[str, str]], priority: str) -> types.SimpleNamespace:
    """A pluggy-style plugin object implementing every hook point: appends (tag, point) to ``log``."""

    def make(point: str) -> Callable[[Any], None]:
        def impl(runner: Any) -> None:
            log.append((tag, point))

        return hookimpl(impl)

    plugin = types.SimpleNamespace(priority=priority)
    for point in hookspecs.HOOK_POINTS:
        setattr(plugin, point, make(point))
    return plugin


class Counter(Hook):
    priority = "HIGH"

    def __init__(self) -> None:
        self.count = 0

    def before_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None) -> None:
        self.count += 1


class AddsMetric(Hook):
    priority = "LOWEST"

    def after_val_epoch(self, runner: Any, metrics: dict[str, float]) -> None:
        metrics["extra"] = 1.0


def test_importing_the_plugin_imports_no_torch() -> None:
    """pytest imports the plugin at start-up: it must stay light."""
    code = "import sys, customrun_core.testing; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# -- customrun_config ----------------------------------------------------------------------------


def test_config_writes_tiny_config_with_changes(customrun_config: Any, tmp_path: Path) -> None:
    train_cfg = {"type": "IterBasedTrainLoop", "max_iters": 3}
    path = customrun_config(train_cfg=train_cfg)
    assert path == tmp_path / "config.toml"
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert data == tiny_config(work_dir=str(tmp_path / "work"), train_cfg=train_cfg)
    assert customrun_config() == tmp_path / "config_2.toml"
    assert customrun_config(work_dir="elsewhere").read_text(encoding="utf-8").count('"elsewhere"') == 1


def test_a_written_config_runs_with_changes_and_overrides(
    customrun_config: Any, customrun_run: Any, tmp_path: Path
) -> None:
    path = customrun_config()
    result = customrun_run(path, overrides=FAST, randomness={"seed": 3})
    runner = result.runner
    assert (runner.cfg.source, runner.seed, runner.device.type) == (str(path), 3, "cpu")
    assert result.work_dir == tmp_path / "work"
    assert (result.work_dir / "epoch_1.pt").is_file()
    assert result.returned is runner.model
    assert runner.iter == 2


# -- customrun_run: the record of hook calls ------------------------------------------------------


def test_calls_are_recorded_in_order_with_their_arguments(customrun_run: Any) -> None:
    result = customrun_run(overrides=FAST)
    assert [call.brief for call in result.calls] == EPOCH
    assert result.points == [call[0] for call in EPOCH]
    (after_iter, *_) = result.calls_to("after_train_iter")
    assert after_iter.arguments == ("batch_idx", "data_batch", "outputs")
    assert result.calls_to("after_val_epoch")[0].arguments == ("metrics",)
    assert result.calls_to("before_save_checkpoint")[0].arguments == ("checkpoint",)
    assert result.calls_to("before_run")[0].arguments == ()


def test_points_that_no_hook_implements_are_recorded(customrun_run: Any) -> None:
    result = customrun_run(overrides=FAST, default_hooks=dict.fromkeys(DEFAULT_HOOKS, False))
    assert result.runner.hooks.order() == {}  # not one implementation
    assert [call.brief for call in result.calls] == [c for c in EPOCH if c[0] != "before_save_checkpoint"]


def test_each_call_is_recorded_once_whatever_the_priorities(customrun_run: Any) -> None:
    log: list[tuple[str, str]] = []
    hooks = [logging_plugin("last", log, "LOWEST"), logging_plugin("first", log, "HIGHEST")]
    result = customrun_run(hooks=hooks, overrides=FAST)
    first = [point for tag, point in log if tag == "first"]
    last = [point for tag, point in log if tag == "last"]
    assert first == result.points
    assert sorted(last) == sorted(result.points)
    # a LOWEST hook sees after_train_epoch after the checkpoint save nested in it; the record does not
    assert last.index("before_save_checkpoint") < last.index("after_train_epoch")
    assert result.points.index("after_train_epoch") < result.points.index("before_save_checkpoint")


# -- customrun_run: hooks, metrics, modes ---------------------------------------------------------


def test_hooks_are_registered_for_one_run_only(customrun_run: Any) -> None:
    counter = Counter()
    first = customrun_run(hooks=[counter], overrides=FAST)
    assert counter.count == 2
    assert ("Counter", "HIGH") in first.runner.hooks.order()["before_train_iter"]
    second = customrun_run(overrides=FAST)
    assert counter.count == 2
    assert counter not in second.runner.hooks.plugins


def test_train_metrics_are_the_last_validation_after_every_hook(customrun_run: Any) -> None:
    result = customrun_run(hooks=[AddsMetric()], overrides=FAST)
    assert result.metrics is not None
    assert result.metrics["extra"] == 1.0
    assert 0.0 <= result.metrics["accuracy/top1"] <= 100.0


@pytest.mark.parametrize("mode", ["val", "test"])
def test_val_and_test_modes_return_their_metrics(customrun_run: Any, mode: str) -> None:
    result: RunResult = customrun_run(mode=mode, overrides=FAST)
    assert result.returned == result.metrics
    assert set(result.metrics) == {"accuracy/top1"}
    assert result.points == [
        "before_run", f"before_{mode}", f"before_{mode}_epoch", f"before_{mode}_iter",
        f"after_{mode}_iter", f"after_{mode}_epoch", f"after_{mode}", "after_run",
    ]  # fmt: skip


def test_no_validation_means_no_metrics(customrun_run: Any) -> None:
    result = customrun_run(overrides=FAST[:1], val_dataloader=None)
    assert result.metrics is None
    assert "before_val" not in result.points


def test_an_unknown_mode_is_refused(customrun_run: Any) -> None:
    with pytest.raises(ValueError, match="mode: expected one of train, val, test, got 'fit'"):
        customrun_run(mode="fit")


def test_the_run_is_in_tmp_path(customrun_run: Any, tmp_path: Path) -> None:
    """A relative work_dir and load_from are found in tmp_path, the working directory."""
    customrun_run(overrides=FAST, work_dir="first")
    result = customrun_run(mode="test", overrides=FAST, load_from="first/epoch_1.pt")
    assert Path.cwd() == tmp_path
    assert result.calls_to("after_load_checkpoint")[0].arguments == ("checkpoint",)


# -- customrun_run: plugins ------------------------------------------------------------------------


def test_plugins_are_installed_for_the_run(customrun_run: Any) -> None:
    plugins = {"customrun-fixture-probe": probe_distribution()}
    customrun_run(plugins=plugins, custom_hooks=[{"type": "ProbeHook"}], overrides=FAST)
    (entry,) = registry.scan_entry_points()["hooks"]["ProbeHook"]
    assert entry.dist == "customrun-fixture-probe"
    customrun_run(plugins=plugins, custom_hooks=[{"type": "ProbeHook"}], overrides=FAST)  # installed once
    assert importlib.import_module("fixture_probe").STARTS == [0, 0]
    with pytest.raises(ValueError, match="'customrun-fixture-probe' is already installed in this test"):
        customrun_run(plugins={"customrun-fixture-probe": probe_distribution("other")})


# -- isolation: nothing a test registers reaches the next one ------------------------------------

LEAKY_TESTS = '''
import sys

from customrun_core import registry

HOOK = """
from customrun_core import Hook, register
from customrun_core.registry import register_model_wrapper


@register("hooks")
class LeakyHook(Hook):
    pass


@register_model_wrapper
class LeakyWrapper:
    pass
"""

DIST = {
    "entry_points": {"customrun.hooks": {"DistHook": "leaky_dist:DistHook"}},
    "modules": {"leaky_dist.py": "from customrun_core import Hook\\nclass DistHook(Hook):\\n    pass\\n"},
}


def test_a_registers_imports_and_installs(customrun_run, tmp_path):
    (tmp_path / "leaky.py").write_text(HOOK)
    customrun_run(
        plugins={"customrun-leaky": DIST},
        custom_imports={"imports": ["leaky"]},
        custom_hooks=[{"type": "LeakyHook"}, {"type": "DistHook"}],
        overrides=FAST,
    )
    assert "LeakyHook" in registry.known_names("hooks")
    assert [c.__name__ for c in registry.model_wrapper_classes()][-1:] == ["LeakyWrapper"]
    assert {"leaky", "leaky_dist"} <= set(sys.modules)
    assert "DistHook" in registry.scan_entry_points()["hooks"]


def test_b_sees_none_of_it():
    assert "LeakyHook" not in registry.known_names("hooks")
    assert "LeakyWrapper" not in [c.__name__ for c in registry.model_wrapper_classes()]
    assert "DistHook" not in registry.scan_entry_points()["hooks"]
    assert not {"leaky", "leaky_dist"} & set(sys.modules)
    assert not any("site-customrun-leaky" in entry for entry in sys.path)
'''


def test_registrations_do_not_leak_between_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_leaky=textwrap.dedent(LEAKY_TESTS) + f"\nFAST = {FAST!r}\n")
    result = pytester.runpytest("-p", "customrun_core.testing", "-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=2)
