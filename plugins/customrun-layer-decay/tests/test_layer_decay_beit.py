"""MMSegmentation's ``LayerDecayOptimizerConstructor`` (its BEiT and MAE configs): every group
against layer ids and weight decays written out by hand from MMSegmentation's rules."""

from __future__ import annotations

from typing import Any

import pytest
from customrun_core import registry
from customrun_core.errors import ConfigError

from customrun_layer_decay import LayerDecayOptimizerConstructor

NAME = "LayerDecayOptimizerConstructor"
ADAMW = {"type": "AdamW", "lr": 1e-4, "weight_decay": 0.05}

# Classifier(BEiT(depth=2)), num_layers = 2: (layer id, decayed?). MMSegmentation decays every
# tensor of more than one dimension unless its full name is exactly pos_embed or cls_token.
BEIT = {
    "backbone.cls_token": (0, True),
    "backbone.pos_embed": (0, True),
    "backbone.patch_embed.weight": (0, True),
    "backbone.patch_embed.bias": (0, False),
    **{f"backbone.layers.{i}.0.{p}": (i + 1, False) for i in range(2) for p in ("weight", "bias")},
    **{f"backbone.layers.{i}.1.weight": (i + 1, True) for i in range(2)},
    **{f"backbone.layers.{i}.1.bias": (i + 1, False) for i in range(2)},
    "backbone.ln.weight": (3, False),
    "backbone.ln.bias": (3, False),
    "head.weight": (3, True),
    "head.bias": (3, False),
}


def test_the_entry_point_resolves_to_the_constructor() -> None:
    registry.refresh()
    assert registry.resolve("optim_wrapper_constructors", NAME) is LayerDecayOptimizerConstructor


@pytest.mark.parametrize("family", ["BEiT", "MAE"])
def test_beit_and_mae_groups(models: Any, family: str) -> None:
    """scale = layer_decay_rate ** (num_layers + 2 - layer_id - 1): 0.9 -> 0.729/0.81/0.9/1."""
    model = models.Classifier(models.named(models.TokenBackbone, family)())
    cfg = {"num_layers": 2, "layer_decay_rate": 0.9}
    groups = models.groups_by_name(models.build(model, cfg, ADAMW, constructor=NAME), model)
    assert sorted(groups) == sorted(BEIT)
    scales = {0: 0.729, 1: 0.81, 2: 0.9, 3: 1.0}
    for name, (layer_id, decayed) in BEIT.items():
        group = groups[name]
        assert group["layer_id"] == layer_id, name
        assert group["lr"] == pytest.approx(1e-4 * scales[layer_id], rel=1e-12), name
        assert group["weight_decay"] == (0.05 if decayed else 0.0), name


def test_top_level_tokens_are_not_decayed(models: Any) -> None:
    model = models.named(models.TokenBackbone, "MAE")()
    groups = models.groups_by_name(
        models.build(model, {"num_layers": 2, "layer_decay_rate": 0.5}, ADAMW, constructor=NAME), model
    )
    assert groups["cls_token"]["weight_decay"] == 0.0
    assert groups["pos_embed"]["weight_decay"] == 0.0
    assert groups["patch_embed.weight"]["weight_decay"] == 0.05


def test_convnext_takes_the_layer_wise_rule(models: Any) -> None:
    """MMSegmentation forces decay_type 'layer_wise_vit', which its ConvNeXt test comes first for."""
    model = models.Classifier(models.named(models.StageBackbone, "ConvNeXt")())
    groups = models.groups_by_name(
        models.build(model, {"num_layers": 6, "layer_decay_rate": 0.8}, ADAMW, constructor=NAME), model
    )
    assert groups["backbone.downsample_layers.3.weight"]["layer_id"] == 6
    assert groups["backbone.stages.2.3.weight"]["layer_id"] == 4
    assert groups["head.weight"]["layer_id"] == 7


@pytest.mark.parametrize(
    ("paramwise_cfg", "line"),
    [
        ({"num_layers": 2}, "paramwise_cfg.layer_decay_rate: required key is missing"),
        (
            {"num_layers": 2, "decay_rate": 0.9},
            "paramwise_cfg.decay_rate: unknown key (did you mean 'layer_decay_rate'?)",
        ),
        (
            {"num_layers": 2, "layer_decay_rate": 0.9, "custom_keys": {"head": {"lr_mult": 10.0}}},
            "paramwise_cfg.custom_keys: MMSegmentation's LayerDecayOptimizerConstructor ignores them; to "
            'apply them, use constructor = "LearningRateDecayOptimizerConstructor" with decay_rate',
        ),
        (
            {"num_layers": 2, "layer_decay_rate": 2},
            "paramwise_cfg.layer_decay_rate: expected a number in (0, 1], got integer 2",
        ),
    ],
)
def test_mistakes_are_one_line(models: Any, paramwise_cfg: dict[str, Any], line: str) -> None:
    model = models.Classifier(models.named(models.TokenBackbone, "BEiT")())
    with pytest.raises(ConfigError) as info:
        models.build(model, paramwise_cfg, ADAMW, constructor=NAME)
    assert str(info.value) == line
