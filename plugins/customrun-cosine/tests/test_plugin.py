"""customrun-cosine as an installed plugin: found by its entry points, the README's config is the
seed's, and the seed's MAE schedule trains through the runner."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import torch
from customrun_core import Runner, registry
from customrun_core.config import load_config

import customrun_cosine

ROOT = Path(__file__).resolve().parents[1]
MAE = ROOT.parents[1] / "examples" / "seeds" / "mae_schedule.toml"


@pytest.mark.parametrize("name", [name for name in customrun_cosine.__all__ if name.startswith("Cosine")])
def test_every_scheduler_resolves_through_its_entry_point(name: str) -> None:
    registry.refresh()
    cls = getattr(customrun_cosine, name)
    assert registry.resolve("param_schedulers", name) is cls
    assert registry.resolve("param_schedulers", f"customrun-cosine:{name}") is cls


def test_the_readme_config_is_the_seeds() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"```toml\n(.*?)```", text, flags=re.DOTALL)
    assert tomllib.loads(block)["param_scheduler"] == load_config(MAE).param_scheduler


def test_the_mae_schedule_trains_one_epoch(tmp_path: Path) -> None:
    """With one epoch of E iterations the warm-up (40 E iterations) has just begun: the lr of the
    last iteration is B (s + (1 - s)(E - 1) / (40 E - 1)), and the one left for the next is one
    step further."""
    runner = Runner.from_config(MAE, ["train_cfg.max_epochs=1"], work_dir=str(tmp_path))
    runner.train()
    length = len(runner.train_dataloader)
    assert runner.iter == length
    assert all(torch.isfinite(p).all() for p in runner.model.parameters())

    def warm_up(i: int) -> float:
        return 0.0024 * (1e-4 + (1 - 1e-4) * i / (40 * length - 1))

    assert runner.scalars.latest("lr") == pytest.approx(warm_up(length - 1), rel=1e-12)
    assert runner.optim_wrapper.param_groups[0]["lr"] == pytest.approx(warm_up(length), rel=1e-12)
    names = [type(s).__name__ for s in runner.param_schedulers]
    assert names == ["LinearLR", "CosineAnnealingLR"]
    assert runner.param_schedulers[1].T_max == 360 * length
