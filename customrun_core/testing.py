"""Test helpers for customrun and for plugin authors (a pytest plugin: ``-p customrun_core.testing``).

``make_distribution`` writes a tiny installed distribution (modules plus a ``.dist-info`` folder
with ``entry_points.txt``) into a folder, which is what ``pip install`` leaves behind; put the
folder on ``sys.path`` (or ``PYTHONPATH`` for a subprocess) and customrun finds its entry points
exactly as it finds a real plugin's.
"""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from customrun_core import registry


def make_distribution(
    root: Path,
    name: str,
    version: str = "1.0",
    entry_points: Mapping[str, Mapping[str, str]] | None = None,
    modules: Mapping[str, str] | None = None,
    requires: tuple[str, ...] = (),
) -> Path:
    """Write distribution ``name`` into ``root``: each ``modules`` item is a relative file path
    and its source (dedented); ``entry_points`` maps a group to ``{name: "module:attr"}``."""
    root.mkdir(parents=True, exist_ok=True)
    for relative, source in (modules or {}).items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")
    dist_info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    dist_info.mkdir(exist_ok=True)
    metadata = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    metadata += [f"Requires-Dist: {r}" for r in requires]
    (dist_info / "METADATA").write_text("\n".join(metadata) + "\n", encoding="utf-8")
    lines = []
    for group, eps in (entry_points or {}).items():
        lines.append(f"[{group}]")
        lines += [f"{ep} = {value}" for ep, value in eps.items()]
    (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def tiny_config(**changes: Any) -> dict[str, Any]:
    """A config that trains in about a second: the digits MLP, one epoch, validation included."""
    cfg = {
        "model": {
            "type": "ClassifierModel",
            "backbone": {"type": "MLP", "in_features": 64, "num_classes": 10, "hidden_features": [32]},
        },
        "train_dataloader": {
            "batch_size": 64,
            "shuffle": True,
            "dataset": {"type": "DigitsDataset", "split": "train"},
        },
        "val_dataloader": {"batch_size": 256, "dataset": {"type": "DigitsDataset", "split": "val"}},
        "test_dataloader": {"batch_size": 256, "dataset": {"type": "DigitsDataset", "split": "test"}},
        "val_evaluator": {"type": "Accuracy"},
        "test_evaluator": {"type": "Accuracy"},
        "train_cfg": {"type": "EpochBasedTrainLoop", "max_epochs": 1},
        "optim_wrapper": {"optimizer": {"type": "SGD", "lr": 0.1, "momentum": 0.9}},
        "randomness": {"seed": 0},
        "work_dir": "work",
    }
    cfg.update(changes)
    return cfg


@pytest.fixture
def customrun_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A factory: ``customrun_distribution(name, entry_points=..., modules=...)`` installs a
    distribution for this test (on ``sys.path`` and ``PYTHONPATH``) and rescans entry points."""
    created: list[str] = []

    def install(name: str, **kwargs: Any) -> Path:
        root = make_distribution(tmp_path / f"site-{name}", name, **kwargs)
        monkeypatch.syspath_prepend(str(root))
        paths = [str(root), *filter(None, [os.environ.get("PYTHONPATH")])]
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
        created.extend(Path(m).with_suffix("").parts[0] for m in kwargs.get("modules", {}) or {})
        registry.refresh()
        return root

    yield install
    for module in list(sys.modules):
        if module.split(".")[0] in created:
            del sys.modules[module]
    registry.refresh()
