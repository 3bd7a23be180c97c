"""Every config snippet of the seed documents has a TOML twin in examples/seeds/ that trains."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from customrun_core import Runner, registry
from customrun_core.config import load_config

SEEDS = Path(__file__).resolve().parents[1] / "examples" / "seeds"
# Which examples need a first-party plugin (skipped when it is not installed).
NEEDS = {
    "amp.toml": ("optim_wrappers", "AmpOptimWrapper"),
    "simclr_lars.toml": ("optimizers", "LARS"),
    "mae_schedule.toml": ("param_schedulers", "CosineAnnealingLR"),
    "layer_decay.toml": ("optim_wrapper_constructors", "LearningRateDecayOptimizerConstructor"),
}
EXAMPLES = sorted(p.name for p in SEEDS.glob("*.toml") if not p.name.startswith("_"))
EXAMPLE_MODULES = [p.stem for p in SEEDS.glob("*.py")]


@pytest.fixture(autouse=True)
def _forget_example_modules():
    """The examples' modules (new_hook, ...) have common names; other tests import their own."""
    saved = {kind: dict(names) for kind, names in registry._registered.items()}
    yield
    for name in EXAMPLE_MODULES:
        sys.modules.pop(name, None)
    for kind, names in saved.items():
        registry._registered[kind].clear()
        registry._registered[kind].update(names)


def test_every_seed_topic_has_an_example() -> None:
    assert set(EXAMPLES) >= {
        "loop.toml", "sgd.toml", "amp.toml", "mae_adamw.toml", "simclr_lars.toml", "mae_schedule.toml",
        "custom_hook.toml", "custom_optimizer.toml", "custom_constructor.toml", "layer_decay.toml",
    }  # fmt: skip


@pytest.mark.parametrize("name", EXAMPLES)
def test_seed_example_trains(name: str, tmp_path: Path) -> None:
    kind, component = NEEDS.get(name, (None, None))
    if kind is not None and component not in registry.scan_entry_points()[kind]:
        pytest.skip(f"{component} comes from a plugin that is not installed here")
    # The examples keep the seeds' lengths (200 and 400 epochs); one epoch is enough to prove they run.
    runner = Runner.from_config(SEEDS / name, ["train_cfg.max_epochs=1"], work_dir=str(tmp_path))
    runner.train()
    assert runner.iter == len(runner.train_dataloader)
    assert all(torch.isfinite(p).all() for p in runner.model.parameters())


def test_seed_lengths_are_kept() -> None:
    assert load_config(SEEDS / "loop.toml").train_cfg == {"type": "EpochBasedTrainLoop", "max_epochs": 200}
    schedule = load_config(SEEDS / "mae_schedule.toml").param_scheduler
    assert [(s["begin"], s["end"]) for s in schedule] == [(0, 40), (40, 400)]


def test_seed_new_hook_sets_the_hyper_parameter(tmp_path: Path) -> None:
    runner = Runner.from_config(
        SEEDS / "custom_hook.toml", ["train_cfg.max_epochs=1"], work_dir=str(tmp_path)
    )
    runner.train()
    last_iter = len(runner.train_dataloader) - 1
    assert runner.model.hyper_parameter == 2 * last_iter + 1  # a * iter + b of the last iteration


def test_seed_custom_optimizer_steps_with_its_own_rule(tmp_path: Path) -> None:
    runner = Runner.from_config(SEEDS / "custom_optimizer.toml", work_dir=str(tmp_path))
    runner._build_training()
    assert type(runner.optim_wrapper.optimizer).__name__ == "MyOptimizer"
    assert runner.optim_wrapper.get_lr() == {"lr": [pytest.approx(0.5 * 0.2 / 1.0)]}
