"""``customrun new-plugin``: names, refusals, and for each kind a distribution that installs with pip
and passes its own tests, unchanged."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from packaging.requirements import Requirement

from customrun_core import __version__
from customrun_core.cli import cli
from customrun_core.cli.new_plugin import PLUGIN_KINDS, core_requirement, plugin_names, write_plugin

KINDS = list(PLUGIN_KINDS)


def new_plugin(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["new-plugin", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("name", "kind", "dist", "package", "component"),
    [
        ("warmup-hold", "scheduler", "customrun-warmup-hold", "customrun_warmup_hold", "WarmupHold"),
        (
            "customrun-warmup-hold",
            "scheduler",
            "customrun-warmup-hold",
            "customrun_warmup_hold",
            "WarmupHold",
        ),
        (
            "Customrun_Warmup.Hold",
            "scheduler",
            "customrun-warmup-hold",
            "customrun_warmup_hold",
            "WarmupHold",
        ),
        ("WarmupHold", "scheduler", "customrun-warmuphold", "customrun_warmuphold", "WarmupHold"),
        (
            "warmup-hold-LR",
            "scheduler",
            "customrun-warmup-hold-lr",
            "customrun_warmup_hold_lr",
            "WarmupHoldLR",
        ),
        ("fast-lr", "scheduler", "customrun-fast-lr", "customrun_fast_lr", "FastLr"),
        ("lr", "scheduler", "customrun-lr", "customrun_lr", "Lr"),
        ("ema-hook", "hook", "customrun-ema-hook", "customrun_ema_hook", "EmaHook"),
        ("my_hook", "hook", "customrun-my-hook", "customrun_my_hook", "MyHook"),
        ("lion", "optimizer", "customrun-lion", "customrun_lion", "Lion"),
        ("lion2", "optimizer", "customrun-lion2", "customrun_lion2", "Lion2"),
        ("LARS2", "optimizer", "customrun-lars2", "customrun_lars2", "LARS2"),
        ("layer-decay", "constructor", "customrun-layer-decay", "customrun_layer_decay", "LayerDecay"),
        ("limited", "loop", "customrun-limited", "customrun_limited", "Limited"),
        ("nan-guard", "wrapper", "customrun-nan-guard", "customrun_nan_guard", "NanGuard"),
    ],
)
def test_names_derive_from_the_name_and_kind(
    name: str, kind: str, dist: str, package: str, component: str
) -> None:
    names = plugin_names(name, kind)
    assert (names.dist, names.package, names.component) == (dist, package, component)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "expected letters, digits and hyphens, starting with a letter"),
        ("customrun-", "expected letters, digits and hyphens, starting with a letter"),
        ("2d-aug", "expected letters, digits and hyphens, starting with a letter"),
        ("my plugin", "expected letters, digits and hyphens, starting with a letter"),
        ("ema/hook", "expected letters, digits and hyphens, starting with a letter"),
        ("core", "customrun-core is customrun itself"),
        ("none", "its class None would shadow Python's built-in None"),
        ("value-error", "its class ValueError would shadow Python's built-in ValueError"),
        ("hook", "its class Hook would clash with the name Hook that the generated hook code imports"),
        ("run-result", "its class RunResult would clash with the name RunResult"),
    ],
)
def test_a_bad_name_is_one_line_and_exit_status_2(tmp_path: Path, name: str, why: str) -> None:
    assert refused(tmp_path, name, "hook").startswith(f"error: bad plugin name {name!r}: {why}")


def refused(tmp_path: Path, name: str, kind: str) -> str:
    """``new-plugin NAME --kind KIND``'s one line on stderr, after checking that it exited with status 2
    and wrote nothing."""
    code, out, err = new_plugin(name, "--kind", kind, "--dir", str(tmp_path))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []
    return err


def test_an_unknown_kind_suggests_the_closest(tmp_path: Path) -> None:
    code, _, err = new_plugin("warmup", "--kind", "schedular", "--dir", str(tmp_path))
    assert code == 2
    assert err == "error: unknown plugin kind 'schedular' (expected 'scheduler')\n"


def test_an_unknown_kind_lists_the_kinds(tmp_path: Path) -> None:
    _, _, err = new_plugin("warmup", "--kind", "x", "--dir", str(tmp_path))
    assert err == f"error: unknown plugin kind 'x' (expected {', '.join(KINDS)})\n"


def test_an_existing_directory_is_not_overwritten(tmp_path: Path) -> None:
    existing = tmp_path / "customrun-ema"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine", encoding="utf-8")
    code, _, err = new_plugin("ema", "--kind", "hook", "--dir", str(tmp_path))
    assert code == 2
    assert err == f"error: {existing} already exists: not overwriting it\n"
    assert [p.name for p in existing.iterdir()] == ["keep.txt"]


def test_a_component_name_an_installed_distribution_provides_is_refused(tmp_path: Path) -> None:
    code, _, err = new_plugin("StepLR", "--kind", "scheduler", "--dir", str(tmp_path))
    assert code == 2
    assert err == (
        "error: parameter scheduler 'StepLR' is already provided by customrun-core "
        "(entry point group customrun.param_schedulers): choose another name\n"
    )


def test_a_component_name_of_a_first_party_plugin_is_refused(tmp_path: Path) -> None:
    _, _, err = new_plugin("cosine-annealing-LR", "--kind", "scheduler", "--dir", str(tmp_path))
    assert err.startswith(
        "error: parameter scheduler 'CosineAnnealingLR' is already provided by customrun-cosine "
    )


@pytest.mark.parametrize(
    ("name", "kind", "message"),
    [
        (
            "adam",
            "optimizer",
            "optimizer 'Adam' is already provided by torch.optim, which an entry point of that name "
            "would replace in every config: choose another name",
        ),
        ("sgd", "optimizer", "optimizer 'Sgd' differs only in case from 'SGD', provided by torch.optim"),
        ("adam_w", "optimizer", "optimizer 'AdamW' is already provided by torch.optim"),
        (
            "lars",
            "optimizer",
            "optimizer 'Lars' differs only in case from 'LARS', provided by customrun-lars",
        ),
        ("step-lr", "scheduler", "parameter scheduler 'StepLr' differs only in case from 'StepLR', provided"),
        (
            "checkpointhook",
            "hook",
            "hook 'Checkpointhook' differs only in case from 'CheckpointHook', provided",
        ),
    ],
)
def test_a_name_the_kind_resolves_or_one_differing_only_in_case_is_refused(
    tmp_path: Path, name: str, kind: str, message: str
) -> None:
    """Entry points resolve before torch.optim, so ``Adam`` would replace torch's in every config; and
    ``type`` is case-sensitive, so ``Sgd`` beside ``SGD`` turns a slip of case into another optimizer."""
    assert refused(tmp_path, name, kind).startswith(f"error: {message}")


def test_lion_makes_the_class_and_entry_point_lion(tmp_path: Path) -> None:
    """Issue 18: ``lion --kind optimizer`` gave ``LionOptimizer``; a config now says ``type = "Lion"``."""
    code, out, _ = new_plugin("lion", "--kind", "optimizer", "--dir", str(tmp_path))
    assert code == 0
    root = tmp_path / "customrun-lion"
    assert out.startswith(f"created {root}: optimizer Lion (customrun.optimizers)\n")
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["entry-points"] == {"customrun.optimizers": {"Lion": "customrun_lion.optimizer:Lion"}}
    module = (root / "customrun_lion" / "optimizer.py").read_text(encoding="utf-8")
    assert "\nclass Lion(Optimizer):\n" in module
    readme = (root / "README.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"```toml\n(.*?)```", readme, flags=re.DOTALL)
    assert 'type = "Lion"' in block
    assert tomllib.loads(block)["optim_wrapper"]["optimizer"]["type"] == "Lion"
    test = (root / "tests" / "test_optimizer.py").read_text(encoding="utf-8")
    assert "from customrun_lion import Lion\n" in test
    assert 'registry.resolve("optimizers", "Lion")' in test
    assert '"type": "Lion"' in test
    assert "LionOptimizer" not in "".join(
        p.read_text(encoding="utf-8") for p in root.rglob("*") if p.is_file()
    )


def test_the_core_requirement_is_this_minor_series() -> None:
    assert core_requirement("0.1.0") == "customrun-core>=0.1,<0.2"
    assert core_requirement("1.12.3") == "customrun-core>=1.12,<1.13"
    assert Requirement(core_requirement()).specifier.contains(__version__)


@pytest.mark.parametrize("kind", KINDS)
def test_the_distribution_has_its_files_and_entry_point(tmp_path: Path, kind: str) -> None:
    code, out, _ = new_plugin(f"demo-{kind}", "--kind", kind, "--dir", str(tmp_path))
    assert code == 0, out
    names = plugin_names(f"demo-{kind}", kind)
    root = tmp_path / names.dist
    module = PLUGIN_KINDS[kind].module
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    package = names.package
    assert files == sorted(
        [
            ".gitignore",
            "README.md",
            "pyproject.toml",
            f"{package}/__init__.py",
            f"{package}/{module}.py",
            f"{package}/py.typed",
            f"tests/test_{module}.py",
        ]
    )
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert (project["name"], project["version"]) == (names.dist, "0.1.0")
    assert project["dependencies"] == [core_requirement(), "torch>=2.4"]
    group = f"customrun.{PLUGIN_KINDS[kind].group}"
    assert project["entry-points"] == {group: {names.component: f"{package}.{module}:{names.component}"}}
    assert out.startswith(f"created {root}: ")
    for path in root.rglob("*.py"):
        compile(path.read_text(encoding="utf-8"), str(path), "exec")


@pytest.mark.parametrize("kind", KINDS)
def test_the_readme_config_names_the_component(tmp_path: Path, kind: str) -> None:
    names, root = write_plugin(f"demo-{kind}", kind, tmp_path)
    readme = (root / "README.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"```toml\n(.*?)```", readme, flags=re.DOTALL)
    assert f'"{names.component}"' in json.dumps(tomllib.loads(block))
    assert "$" not in readme


def _ruff() -> str | None:
    return shutil.which("ruff") or shutil.which("ruff", path=str(Path(sys.executable).parent))


def run(command: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    """Run ``command``; fail the test with its output unless it exits with status 0."""
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result.stdout


@pytest.mark.skipif(_ruff() is None, reason="needs ruff")
@pytest.mark.parametrize("name", ["x", "warmup-hold-with-cosine-restarts"])
def test_the_generated_code_is_ruff_clean(tmp_path: Path, name: str) -> None:
    ruff = _ruff()
    assert ruff is not None
    for kind in KINDS:
        _, root = write_plugin(f"{name}-{kind}", kind, tmp_path)
        run([ruff, "check", "--no-cache", "."], cwd=root)
        run([ruff, "format", "--check", "--no-cache", "."], cwd=root)


def pip_install(source: Path, target: Path) -> None:
    """Build ``source``'s wheel and install it, entry points included, into the folder ``target``.

    With setuptools at hand the build uses it (no network); otherwise pip fetches it."""
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target)]
    if importlib.util.find_spec("setuptools") is not None:
        command += ["--no-build-isolation", "--no-index"]
    run([*command, str(source)])


def fresh_environment(site: Path) -> dict[str, str]:
    """This environment with ``site`` first on the path, and none of the test run's pytest or
    customrun settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CUSTOMRUN_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


# For each kind, a name as a user writes it and the class and entry point it must give.
AS_WRITTEN = {
    "hook": ("my_hook", "MyHook"),
    "optimizer": ("lion", "Lion"),
    "scheduler": ("WarmupHold", "WarmupHold"),
    "constructor": ("demo-constructor", "DemoConstructor"),
    "loop": ("demo-loop", "DemoLoop"),
    "wrapper": ("nan-guard", "NanGuard"),
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_a_generated_plugin_installs_and_passes_its_own_tests(tmp_path: Path, kind: str) -> None:
    """The core and torch come from this environment, the plugin only from its wheel: ``-P`` keeps
    the source folder off ``sys.path``. The installed metadata publishes the component under the
    name as written (``lion`` -> ``Lion``), which the generated tests resolve and train with."""
    name, component = AS_WRITTEN[kind]
    names, root = write_plugin(name, kind, tmp_path)
    site = tmp_path / "site"
    pip_install(root, site)
    assert (site / names.package / f"{PLUGIN_KINDS[kind].module}.py").is_file()
    env = fresh_environment(site)
    python = [sys.executable, "-P"]
    output = run([*python, "-m", "pytest", "-p", "no:cacheprovider"], cwd=root, env=env)
    assert re.search(r"\b[2-9] passed\b", output), output[-2000:]
    listing = run([*python, "-m", "customrun_core", "plugins", "--json"], cwd=root, env=env)
    (row,) = [r for r in json.loads(listing) if r["distribution"] == names.dist]
    assert row["version"] == "0.1.0"
    assert row["status"] == "not imported"
    assert row["provides"] == {PLUGIN_KINDS[kind].group: [component]}
