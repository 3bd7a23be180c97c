"""An unknown ``type`` says what to do (issue 21, items 5 and 7): which known plugin provides the
name and how to install it, from a checkout too (``pip install -e plugins/<dist>``), and a
did-you-mean only for a name a typo away."""

from __future__ import annotations

import functools
import os
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from customrun_core import import_paths, registry
from customrun_core.errors import ComponentError, closest
from customrun_core.plugin_hints import EXAMPLE_PLUGINS, FIRST_PARTY

REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.fixture
def hide(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """``hide(kind, name, ...)``: as if the distributions providing these names were not installed,
    whatever this environment holds."""

    # no config file of an earlier test in this process may lead the search into a checkout
    monkeypatch.setitem(import_paths._config_file, "current", "<config>")

    def hide(*hidden: tuple[str, str]) -> None:
        scan = registry.scan_entry_points()
        kept = {k: {n: e for n, e in names.items() if (k, n) not in hidden} for k, names in scan.items()}
        monkeypatch.setattr(registry, "scan_entry_points", functools.cache(lambda: kept))

    return hide


def _message(kind: str, name: str) -> str:
    with pytest.raises(ComponentError) as info:
        registry.resolve(kind, name)
    return str(info.value)


def _pip_line(message: str) -> str:
    return message.rpartition("pip install -e ")[2].rstrip(")")


def _checkout(root: Path, dist: str, folder: str = "plugins", project: str | None = None) -> Path:
    plugin = root / folder / dist
    plugin.mkdir(parents=True)
    (plugin / "pyproject.toml").write_text(f'[project]\nname = "{project or dist}"\n', encoding="utf-8")
    return plugin


def test_the_known_plugin_tables_match_the_plugins_pyproject_files() -> None:
    """Every entry point of plugins/* and examples/plugins/* (but commands and hook plugins) is in
    the table that says what to install, with its distribution, and nothing else is."""
    declared: dict[str, dict[tuple[str, str], str]] = {"plugins": {}, "examples/plugins": {}}
    for folder, table in declared.items():
        for pyproject in sorted((REPOSITORY / folder).glob("*/pyproject.toml")):
            project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
            for group, entries in project.get("entry-points", {}).items():
                kind = group.removeprefix("customrun.")
                if kind in registry.KINDS:
                    table.update({(kind, name): project["name"] for name in entries})
    assert declared["plugins"] == FIRST_PARTY
    assert declared["examples/plugins"] == EXAMPLE_PLUGINS


def test_a_missing_first_party_hook_names_its_distribution_not_a_near_miss(
    hide: Callable[..., None], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    hide(("hooks", "EMAHook"))
    monkeypatch.chdir(tmp_path)  # outside any checkout
    message = _message("hooks", "EMAHook")
    assert (
        message
        == "hook 'EMAHook' is provided by the plugin customrun-ema, which is not installed: pip install customrun-ema"
    )


def test_a_misspelt_missing_hook_suggests_the_plugin_that_provides_the_name(
    hide: Callable[..., None], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    hide(("hooks", "EMAHook"))
    monkeypatch.chdir(tmp_path)
    message = _message("hooks", "EmaHook")
    assert "did you mean 'EMAHook'?" in message
    assert "'EMAHook' is in customrun-ema: pip install customrun-ema" in message
    assert "IterTimerHook" not in message and "EpochSummaryHook" not in message


def test_a_missing_example_hook_says_to_install_it_from_the_checkout(
    hide: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    hide(("hooks", "EpochSummaryHook"))
    monkeypatch.chdir(REPOSITORY / "docs")  # anywhere in the checkout
    message = _message("hooks", "EpochSummaryHook")
    assert message.startswith(
        "hook 'EpochSummaryHook' is provided by the example plugin customrun-epoch-summary"
    )
    folder = (Path.cwd() / _pip_line(message)).resolve()
    assert folder == REPOSITORY / "examples" / "plugins" / "customrun-epoch-summary"


def test_the_reported_near_miss_is_no_longer_offered() -> None:
    """``EMAHook`` and ``IterTimerHook`` are 0.6 alike (difflib) only through their shared ``Hook``."""
    hooks = [name for name in registry.known_names("hooks") if name != "EMAHook"]
    assert "IterTimerHook" in hooks
    assert closest("EMAHook", hooks, strict=True) == []


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("GradNormHook", []),
        ("checkpointhook", ["CheckpointHook"]),
        ("CheckpiontHook", ["CheckpointHook"]),
        ("LogerHook", ["LoggerHook"]),
        ("TimerHook", ["IterTimerHook"]),
    ],
)
def test_a_hook_suggestion_is_a_typo_away(typed: str, meant: list[str]) -> None:
    with pytest.raises(ComponentError) as info:
        registry.resolve("hooks", typed)
    assert info.value.suggestions == meant


def test_outside_a_checkout_an_example_plugin_says_where_it_lives(
    hide: Callable[..., None], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    hide(("hooks", "EpochSummaryHook"))
    monkeypatch.chdir(tmp_path)
    assert _message("hooks", "EpochSummaryHook") == (
        "hook 'EpochSummaryHook' is provided by the example plugin customrun-epoch-summary, which is not "
        "installed: pip install -e examples/plugins/customrun-epoch-summary in a checkout of customrun "
        "(not on the package index)"
    )


@pytest.mark.parametrize(
    ("kind", "typed", "first"),
    [
        ("optimizers", "SDG", "SGD"),
        ("optimizers", "Adamw", "AdamW"),
        ("param_schedulers", "MultiStep", "MultiStepLR"),
        ("param_schedulers", "LinerLR", "LinearLR"),
        ("optim_wrappers", "Optimwrapper", "OptimWrapper"),
        ("optim_wrapper_constructors", "DefaultOptimWrapperConstuctor", "DefaultOptimWrapperConstructor"),
        ("models", "ClasifierModel", "ClassifierModel"),
        ("metrics", "accuracy", "Accuracy"),
    ],
)
def test_every_kind_suggests_a_close_name(kind: str, typed: str, first: str) -> None:
    with pytest.raises(ComponentError) as info:
        registry.resolve(kind, typed)
    assert info.value.suggestions[0] == first


@pytest.mark.parametrize("where", ["cwd", "config"])
def test_in_a_checkout_the_hint_adds_the_editable_install(
    where: str, hide: Callable[..., None], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    hide(("optimizers", "LARS"))
    plugin = _checkout(tmp_path / "checkout", "customrun-lars")
    (tmp_path / "checkout" / "configs").mkdir()
    config = tmp_path / "checkout" / "configs" / "lars.toml"
    config.write_text('[optim_wrapper.optimizer]\ntype = "LARS"\n', encoding="utf-8")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    monkeypatch.chdir(config.parent if where == "cwd" else outside)
    monkeypatch.setitem(
        import_paths._config_file, "current", str(config) if where == "config" else "<config>"
    )
    message = _message("optimizers", "LARS")
    assert message.startswith(
        "optimizer 'LARS' is provided by the plugin customrun-lars, which is not installed: "
        "pip install customrun-lars (from this checkout: pip install -e "
    )
    assert (Path.cwd() / _pip_line(message)).resolve() == plugin
    assert os.sep in _pip_line(message)  # a path to pip, never a name on the index


def test_a_folder_of_another_project_is_not_offered(
    hide: Callable[..., None], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    hide(("optimizers", "LARS"))
    _checkout(tmp_path, "customrun-lars", project="my-lars-fork")
    monkeypatch.chdir(tmp_path)
    assert _message("optimizers", "LARS").endswith("which is not installed: pip install customrun-lars")


def test_the_cli_in_this_repository_prints_the_editable_install_in_one_line(
    hide: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from customrun_core.cli import cli

    hide(("optimizers", "LARS"))
    monkeypatch.chdir(REPOSITORY)
    config = REPOSITORY / "tests" / "data" / "broken" / "first_party_plugin.toml"
    result = CliRunner().invoke(cli, ["train", str(config)])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert lines[0].endswith(
        "optimizer 'LARS' is provided by the plugin customrun-lars, which is not installed: "
        "pip install customrun-lars (from this checkout: pip install -e plugins/customrun-lars)"
    )
    pyproject = tomllib.loads(
        (REPOSITORY / "plugins/customrun-lars/pyproject.toml").read_text(encoding="utf-8")
    )
    assert pyproject["project"]["name"] == "customrun-lars"
