"""What the testing plugin (:mod:`customrun_core.testing`) is built from that needs no pytest:
a tiny config, a distribution written to disk as pip would install it, and the exact-resume check.

Plugin authors import these names from :mod:`customrun_core.testing`, which re-exports them.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from customrun_core.runner import Runner

__all__ = ["assert_resume_is_exact", "logged_scalars", "make_distribution", "tiny_config"]


def make_distribution(
    root: Path,
    name: str,
    version: str = "1.0",
    entry_points: Mapping[str, Mapping[str, str]] | None = None,
    modules: Mapping[str, str] | None = None,
    requires: tuple[str, ...] = (),
) -> Path:
    """Write distribution ``name`` into ``root``: each ``modules`` item is a relative file path
    and its source (dedented); ``entry_points`` maps a group to ``{name: "module:attr"}``.

    This is what ``pip install`` leaves behind; put ``root`` on ``sys.path`` (or ``PYTHONPATH``
    for a subprocess) and customrun finds its entry points exactly as it finds a real plugin's.
    """
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


def assert_resume_is_exact(config: Mapping[str, Any], directory: Path, every: int) -> list[int]:
    """Train ``config`` once, with a checkpoint every ``every`` iterations, then resume from each of
    those checkpoints in a new runner and assert that every resumed run ends with the same weights,
    optimizer state and buffers as the uninterrupted one, bit for bit. Returns the iterations
    resumed from. Use it to check that a hook's or a component's own state survives a resume.

    ``config`` is a mapping (:func:`tiny_config` and changes); run directories go under
    ``directory``. Bit-identity needs a seed and, for some models, ``deterministic = true``.
    """
    from customrun_core.runner import Runner

    hooks = dict(config.get("default_hooks", {}))
    hooks["checkpoint"] = {"type": "CheckpointHook", "by_epoch": False, "interval": every}
    base = {**config, "default_hooks": hooks}
    full = Runner.from_config({**base, "work_dir": str(directory / "full")})
    full.train()
    expected = _final_state(full)
    points = list(range(every, full.iter, every))
    for point in points:
        checkpoint = directory / "full" / f"iter_{point}.pt"
        resumed = Runner.from_config(
            {**base, "work_dir": str(directory / f"from_{point}"), "resume": str(checkpoint)}
        )
        resumed.train()
        got = _final_state(resumed)
        assert got.keys() == expected.keys(), f"resumed from iteration {point}: other state entries"
        for name, value in expected.items():
            if not _same(value, got[name]):
                raise AssertionError(
                    f"resumed from iteration {point}: {name} differs from the uninterrupted run"
                )
    return points


def _final_state(runner: Runner) -> dict[str, Any]:
    """What a run ends with, flattened: the model's state dict, the optim wrapper's, and its last
    checkpoint but the config text (which names the work directory): the schedulers, the RNG
    states and what hooks add to a checkpoint (an EMA hook's average)."""
    from customrun_core import checkpoint as ckpt
    from customrun_core.models.wrappers import unwrap_model

    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                walk(f"{prefix}.{key}", item)
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                walk(f"{prefix}[{index}]", item)
        else:
            flat[prefix] = value

    walk("model", unwrap_model(runner.model).state_dict())
    walk("optimizer", runner.optim_wrapper.state_dict())
    if runner.last_saved is not None:
        saved = ckpt.load(runner.work_dir / runner.last_saved[0])
        saved["meta"].pop("config")
        walk("checkpoint", saved)
    return flat


def _same(a: Any, b: Any) -> bool:
    import torch

    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    return bool(a == b)


def logged_scalars(work_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """What a run's ``scalars.jsonl`` holds, as a tracker shows it: ``"mode/name"`` (``train/loss``,
    ``val/accuracy/top1``) -> ``(step, value)`` in the order logged. The reference a logging
    plugin's test compares its tracker's read-back with."""
    logged: dict[str, list[tuple[int, float]]] = {}
    for line in (Path(work_dir) / "scalars.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        for name, value in record.items():
            if name not in ("mode", "step", "epoch"):
                logged.setdefault(f"{record['mode']}/{name}", []).append((record["step"], value))
    return logged
