"""Every seed snippet, as an MMEngine Python file in examples/mmengine/, converts to TOML that
customrun accepts, with the values of its hand-written twin in examples/seeds/ (the reference)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from customrun_core import registry
from customrun_core.config import load_config
from customrun_core.convert import convert_file, to_toml

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MMENGINE = EXAMPLES / "mmengine"
SEEDS = EXAMPLES / "seeds"
SNIPPETS = sorted(p.stem for p in MMENGINE.glob("*.py") if p.stem != "inherit")
# Snippets whose twin needs a first-party plugin: converted anyway, and the report says what to install.
NEEDS = {
    "amp": ("optim_wrappers", "AmpOptimWrapper"),
    "simclr_lars": ("optimizers", "LARS"),
    "mae_schedule": ("param_schedulers", "CosineAnnealingLR"),
    "layer_decay": ("optim_wrapper_constructors", "LearningRateDecayOptimizerConstructor"),
}

# Twins that set a model of their own, where their snippet leaves the model to the base.
TWIN_ADDS_MODEL = {"layer_decay", "mae_adamw", "simclr_lars"}


def _installed(kind: str, name: str) -> bool:
    return name in registry.scan_entry_points().get(kind, {})


def test_every_seed_twin_has_a_python_snippet() -> None:
    twins = {p.stem for p in SEEDS.glob("*.toml") if not p.name.startswith("_")}
    assert set(SNIPPETS) == twins


@pytest.mark.parametrize("stem", SNIPPETS)
def test_a_seed_snippet_converts_to_the_values_of_its_twin(stem: str, tmp_path: Path) -> None:
    conversion = convert_file(MMENGINE / f"{stem}.py", module_dirs=[SEEDS])
    needed = NEEDS.get(stem)
    expected_reports = (
        [] if needed is None or _installed(*needed) else [f"pip install {registry.FIRST_PARTY[needed]}"]
    )
    assert [r.message.split(": ")[-1] for r in conversion.reports] == expected_reports
    # a fragment is accepted as the twins are: extending the base that gives model and data
    converted = tmp_path / f"{stem}.toml"
    converted.write_text(
        f"extends = {str(SEEDS / '_base.toml')!r}\n" + to_toml(conversion.data, f"{stem}.py")
    )
    ours, twin = load_config(converted).to_dict(), load_config(SEEDS / f"{stem}.toml").to_dict()
    assert conversion.data  # the snippet set something
    twin_keys = set(tomllib.loads((SEEDS / f"{stem}.toml").read_text())) - {"extends"}
    assert set(conversion.data) == twin_keys - ({"model"} if stem in TWIN_ADDS_MODEL else set())
    for key in conversion.data:
        assert ours[key] == twin[key], key


def test_the_base_example_merges_bases_and_delete_as_mmengine(tmp_path: Path) -> None:
    conversion = convert_file(MMENGINE / "inherit.py", module_dirs=[SEEDS])
    data = conversion.data
    # hand-merged from _base_/digits.py, schedule_sgd.py, runtime.py and inherit.py
    assert data["model"] == {
        "type": "ClassifierModel",
        "backbone": {"type": "MLP", "in_features": 64, "hidden_features": [128], "num_classes": 10},
    }
    assert data["optim_wrapper"] == {  # _delete_: nothing of the base's SGD or clip_grad is left
        "type": "OptimWrapper",
        "optimizer": {"type": "AdamW", "lr": 0.001, "betas": [0.9, 0.999], "weight_decay": 0.05},
    }
    assert data["param_scheduler"] == [
        {"type": "LinearLR", "start_factor": 0.1, "by_epoch": False, "begin": 0, "end": 20}
    ]
    assert data["train_cfg"] == {"by_epoch": True, "max_epochs": 1, "val_interval": 1}
    assert data["default_hooks"]["logger"] == {"type": "LoggerHook", "interval": 10}
    assert data["default_hooks"]["sampler_seed"] is False
    assert "visualization" not in data["default_hooks"]
    assert data["train_dataloader"]["shuffle"] is True and "sampler" not in data["train_dataloader"]
    assert (data["cudnn_benchmark"], data["dist_cfg"]) == (False, {"backend": "nccl"})
    assert data["randomness"] == {"seed": 0, "deterministic": False}
    assert "base_lr" not in data and "load_from" not in data
    reported = {(Path(r.file).name, r.key) for r in conversion.reports}
    assert reported == {
        ("runtime.py", "default_scope"),
        ("runtime.py", "env_cfg.mp_cfg"),
        ("runtime.py", "visualizer"),
        ("runtime.py", "log_level"),
        ("inherit.py", "default_hooks.visualization.type"),
    }
    # a whole config: customrun accepts it alone, from its own directory's modules
    converted = tmp_path / "inherit.toml"
    converted.write_text(to_toml(data, "inherit.py"))
    assert tomllib.loads(converted.read_text()) == data
    config = load_config(converted)
    assert config.optim_wrapper == data["optim_wrapper"]
