"""Resolving ``type`` strings: the order of sources, ambiguity, unknown names, lazy imports."""

from __future__ import annotations

import sys

import pytest
import torch

from customrun_core import Hook, is_model_wrapper, registry, unwrap_model
from customrun_core.errors import ComponentError

HOOK_MODULE = """
from customrun_core import Hook

class RecHook(Hook):
    pass
"""


def test_torch_optimizer_resolves_by_class_name() -> None:
    assert registry.resolve("optimizers", "AdamW") is torch.optim.AdamW


def test_import_path_resolves_in_both_spellings() -> None:
    assert registry.resolve("optimizers", "torch.optim:SGD") is torch.optim.SGD
    assert registry.resolve("models", "torch.nn.Linear") is torch.nn.Linear


def test_core_components_come_from_entry_points() -> None:
    entries = registry.scan_entry_points()["loops"]["EpochBasedTrainLoop"]
    assert [e.dist for e in entries] == ["customrun-core"]
    assert entries[0].value == "customrun_core.loops.epoch:EpochBasedTrainLoop"


def test_registered_name_wins_over_entry_point_and_torch() -> None:
    class MySGD(torch.optim.SGD):
        pass

    saved = registry.snapshot()
    try:
        registry.register("optimizers", "SGD", force=True)(MySGD)
        assert registry.resolve("optimizers", "SGD") is MySGD
    finally:
        saved.restore()
    assert registry.resolve("optimizers", "SGD") is torch.optim.SGD


def test_registering_a_name_twice_is_refused() -> None:
    saved = registry.snapshot()
    try:

        @registry.register("hooks", "TwiceHook")
        class A:
            pass

        with pytest.raises(ComponentError, match="already registered"):

            @registry.register("hooks", "TwiceHook")
            class B:
                pass
    finally:
        saved.restore()
    assert "TwiceHook" not in registry.known_names("hooks")


def test_a_snapshot_restores_names_replacements_and_model_wrappers() -> None:
    """What was registered after the snapshot goes, a name replaced with force=True gets its old
    component back, and a model wrapper class registered since is no longer a wrapper."""

    class First(Hook):
        pass

    class Second(Hook):
        pass

    class Wrapper:
        def __init__(self, module: object) -> None:
            self.module = module

    before_test = registry.snapshot()
    try:
        registry.register("hooks", "SnapshotHook")(First)
        saved = registry.snapshot()
        registry.register("hooks", "SnapshotHook", force=True)(Second)
        registry.register("hooks", "LaterHook")(Second)
        registry.register_model_wrapper(Wrapper)
        assert registry.resolve("hooks", "SnapshotHook") is Second
        assert unwrap_model(Wrapper("inner")) == "inner"
        saved.restore()
        assert registry.resolve("hooks", "SnapshotHook") is First
        assert "LaterHook" not in registry.known_names("hooks")
        assert Wrapper not in registry.model_wrapper_classes()
        assert not is_model_wrapper(Wrapper("inner"))
    finally:
        before_test.restore()
    assert "SnapshotHook" not in registry.known_names("hooks")


def test_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(ComponentError) as info:
        registry.resolve("optimizers", "AdamX")
    assert "unknown optimizer 'AdamX'" in str(info.value)
    assert "'Adam'" in str(info.value)


@pytest.mark.parametrize(
    ("kind", "name", "dist"),
    [
        ("optimizers", "LARS", "customrun-lars"),
        ("optim_wrappers", "AmpOptimWrapper", "customrun-amp"),
        ("param_schedulers", "CosineAnnealingLR", "customrun-cosine"),
        ("optim_wrapper_constructors", "LearningRateDecayOptimizerConstructor", "customrun-layer-decay"),
    ],
)
def test_first_party_plugin_name_says_what_to_install(
    kind: str, name: str, dist: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if the plugin were not installed, whatever this environment holds.
    scan = registry.scan_entry_points()
    hidden = {k: {n: e for n, e in names.items() if (k, n) != (kind, name)} for k, names in scan.items()}
    monkeypatch.setattr(registry, "scan_entry_points", lambda: hidden)
    with pytest.raises(ComponentError) as info:
        registry.resolve(kind, name)
    assert f"pip install {dist}" in str(info.value)


def test_two_distributions_claiming_one_name_is_an_error_naming_both(customrun_distribution) -> None:
    for dist, module in (("customrun-rec-a", "rec_a"), ("customrun-rec-b", "rec_b")):
        customrun_distribution(
            dist,
            entry_points={"customrun.hooks": {"RecHook": f"{module}:RecHook"}},
            modules={f"{module}.py": HOOK_MODULE},
        )
    with pytest.raises(ComponentError) as info:
        registry.resolve("hooks", "RecHook")
    message = str(info.value)
    assert "customrun-rec-a" in message and "customrun-rec-b" in message
    assert 'type = "customrun-rec-a:RecHook"' in message
    picked = registry.resolve("hooks", "customrun-rec-b:RecHook")
    assert picked.__module__ == "rec_b"


def test_only_the_named_component_is_imported(customrun_distribution) -> None:
    customrun_distribution(
        "customrun-lazy",
        entry_points={"customrun.hooks": {"GoodHook": "lazy_good:RecHook", "BrokenHook": "lazy_broken:Nope"}},
        modules={
            "lazy_good.py": HOOK_MODULE,
            "lazy_broken.py": "raise ImportError('heavy dependency missing')\n",
        },
    )
    registry.resolve("hooks", "GoodHook")
    assert "lazy_good" in sys.modules
    assert "lazy_broken" not in sys.modules
    with pytest.raises(ComponentError, match=r"customrun-lazy 1\.0 .*heavy dependency missing"):
        registry.resolve("hooks", "BrokenHook")


def test_a_distribution_in_the_working_directory_survives_a_chdir(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``python -m`` puts '' (the working directory) on sys.path: a distribution found there
    still has its metadata after the process changes directory (a run's tests do)."""
    from customrun_core.testing import make_distribution

    make_distribution(
        tmp_path, "customrun-here", "2.5", entry_points={"customrun.hooks": {"HereHook": "here:H"}}
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend("")
    registry.refresh()
    try:
        (entry,) = registry.scan_entry_points()["hooks"]["HereHook"]
        monkeypatch.chdir(tmp_path.parent)
        assert entry.version == "2.5"
    finally:
        monkeypatch.undo()
        registry.refresh()
