"""customrun-layer-decay as an installed plugin: found by its entry point, stepping like a hand-built
AdamW, training the seed example, and shown by ``customrun param-groups``."""

from __future__ import annotations

import copy
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner
from customrun_core import Runner, registry
from customrun_core.cli import cli

from customrun_layer_decay import LearningRateDecayOptimizerConstructor

README = Path(__file__).parent.parent / "README.md"
SEED_SCALES = {0: 0.729, 1: 0.81, 2: 0.9, 3: 1.0}  # rate 0.9, num_layers 2: 0.9 ** (4 - id - 1)


def seed_layer(name: str) -> int:
    """TinyViT's layer ids by the ViT rule, written out: its head is inside the backbone."""
    if name.startswith(
        ("backbone.cls_token", "backbone.mask_token", "backbone.pos_embed", "backbone.patch_embed")
    ):
        return 0
    if name.startswith("backbone.layers."):
        return int(name.split(".")[2]) + 1
    return 3


def test_the_entry_point_resolves_to_the_constructor() -> None:
    registry.refresh()
    name = "LearningRateDecayOptimizerConstructor"
    assert registry.resolve("optim_wrapper_constructors", name) is LearningRateDecayOptimizerConstructor
    qualified = f"customrun-layer-decay:{name}"
    assert registry.resolve("optim_wrapper_constructors", qualified) is LearningRateDecayOptimizerConstructor


def test_one_step_equals_adamw_with_the_same_groups(models: Any) -> None:
    torch.manual_seed(0)
    model = models.Classifier(models.named(models.TokenBackbone, "VisionTransformer")())
    twin = copy.deepcopy(model)
    cfg = {"decay_rate": 0.75, "num_layers": 2, "custom_keys": {"head": {"lr_mult": 2.0}}}
    optimizer = models.build(model, cfg, {"type": "AdamW", "lr": 1e-2, "weight_decay": 0.05})
    hand = []
    for name, param in twin.named_parameters():
        embedding = name in ("backbone.cls_token", "backbone.pos_embed")
        if embedding or name.startswith("backbone.patch_embed"):
            layer = 0
        elif name.startswith("backbone.layers."):
            layer = int(name.split(".")[2]) + 1
        else:
            layer = 3
        lr = 1e-2 * 0.75 ** (4 - layer - 1) * (2.0 if name.startswith("head.") else 1.0)
        hand.append(
            {"params": [param], "lr": lr, "weight_decay": 0.05 if param.ndim > 1 and not embedding else 0.0}
        )
    reference = torch.optim.AdamW(hand)
    inputs = torch.randn(5, 12)
    for _ in range(2):
        for net, opt in ((model, optimizer), (twin, reference)):
            opt.zero_grad()
            net(inputs).square().mean().backward()
            opt.step()
    for (name, param), (_, expected) in zip(model.named_parameters(), twin.named_parameters(), strict=True):
        torch.testing.assert_close(param, expected, rtol=0, atol=0, msg=name)


def test_the_seed_example_trains(tmp_path: Path, models: Any) -> None:
    runner = Runner.from_config(models.SEED, ["train_cfg.max_epochs=1"], work_dir=str(tmp_path))
    runner.train()
    assert runner.iter == len(runner.train_dataloader)
    optimizer = runner.optim_wrapper.optimizer
    assert type(optimizer) is torch.optim.AdamW
    groups = models.groups_by_name(optimizer, runner.model)
    assert len(groups) == len(list(runner.model.parameters()))
    for name, group in groups.items():
        scale = SEED_SCALES[seed_layer(name)]
        assert (group["layer_id"], group["lr_scale"]) == (seed_layer(name), pytest.approx(scale)), name
        assert group["lr"] == pytest.approx(1e-4 * scale), name


def test_param_groups_shows_lr_scale_and_layer_id(monkeypatch: pytest.MonkeyPatch, models: Any) -> None:
    monkeypatch.chdir(models.REPOSITORY)
    result = CliRunner().invoke(cli, ["param-groups", "examples/seeds/layer_decay.toml", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["unmatched_custom_keys"] == []
    rows = report["parameters"]
    assert [row["group"] for row in rows] == list(range(len(rows)))  # one parameter per group
    for row in rows:
        layer, name = seed_layer(row["name"]), row["name"]
        decays = len(row["shape"]) > 1 and not name.endswith(("cls_token", "mask_token", "pos_embed"))
        assert row["extra"] == {"lr_scale": pytest.approx(SEED_SCALES[layer]), "layer_id": layer}, name
        assert row["lr"] == pytest.approx(1e-4 * SEED_SCALES[layer]), name
        assert row["weight_decay"] == (0.05 if decays else 0.0), name
    assert {row["name"] for row in rows if row["extra"]["layer_id"] == 0} == {
        "backbone.cls_token",
        "backbone.mask_token",
        "backbone.pos_embed",
        "backbone.patch_embed.weight",
        "backbone.patch_embed.bias",
    }


def test_the_readme_config_is_the_seed_example(models: Any) -> None:
    blocks = re.findall(r"```toml\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)
    seed = tomllib.loads(models.SEED.read_text(encoding="utf-8"))
    assert tomllib.loads(blocks[0])["optim_wrapper"] == seed["optim_wrapper"]


def test_the_readme_rule_list_places_a_model_of_no_family(models: Any) -> None:
    blocks = re.findall(r"```toml\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)
    paramwise_cfg = tomllib.loads(blocks[1])["optim_wrapper"]["paramwise_cfg"]

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.cls_token = torch.nn.Parameter(torch.zeros(1, 1, 4))
            self.pos_embed = torch.nn.Parameter(torch.zeros(1, 2, 4))
            self.patch_embed = torch.nn.Linear(6, 4)
            self.blocks = torch.nn.ModuleList(torch.nn.Linear(4, 4, bias=False) for _ in range(12))
            self.norm = torch.nn.LayerNorm(4)

    model = models.Classifier(Encoder())
    groups = models.groups_by_name(models.build(model, paramwise_cfg), model)
    ids = {name: group["layer_id"] for name, group in groups.items()}
    assert ids == {
        "backbone.cls_token": 0,
        "backbone.pos_embed": 0,
        "backbone.patch_embed.weight": 0,
        "backbone.patch_embed.bias": 0,
        **{f"backbone.blocks.{i}.weight": i + 1 for i in range(12)},
        "backbone.norm.weight": 13,
        "backbone.norm.bias": 13,
        "head.weight": 13,
        "head.bias": 13,
    }
    assert groups["backbone.blocks.0.weight"]["lr_scale"] == pytest.approx(0.75**12)
