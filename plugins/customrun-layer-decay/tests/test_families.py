"""The built-in family rules: every group's lr, weight decay, lr_scale and layer id, against layer
ids written out by hand and the formulas lr_scale = rate ** (N - id - 1), N = num_layers + 2."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from customrun_layer_decay import find_family

ADAMW = {"type": "AdamW", "lr": 4e-3, "weight_decay": 0.05}

# name -> (layer id, weight-decayed?) for Classifier(TokenBackbone(depth=2)), num_layers = 2.
VIT = {
    "backbone.cls_token": (0, False),
    "backbone.pos_embed": (0, False),
    "backbone.patch_embed.weight": (0, True),
    "backbone.patch_embed.bias": (0, False),
    "backbone.layers.0.0.weight": (1, False),  # LayerNorm: 1-D
    "backbone.layers.0.0.bias": (1, False),
    "backbone.layers.0.1.weight": (1, True),
    "backbone.layers.0.1.bias": (1, False),
    "backbone.layers.1.0.weight": (2, False),
    "backbone.layers.1.0.bias": (2, False),
    "backbone.layers.1.1.weight": (2, True),
    "backbone.layers.1.1.bias": (2, False),
    "backbone.ln.weight": (3, False),
    "backbone.ln.bias": (3, False),
    "head.weight": (3, True),
    "head.bias": (3, False),
}


def expected(layers: dict[str, tuple[int, bool]], rate: float, num_layers: int, optimizer: dict) -> dict:
    """Each group as the formulas give it from the hand-written layer ids."""
    total = num_layers + 2
    groups = {}
    for name, (layer_id, decays) in layers.items():
        scale = rate ** (total - layer_id - 1)
        wd = optimizer["weight_decay"] if decays else 0.0
        groups[name] = {
            "lr": optimizer["lr"] * scale,
            "weight_decay": wd,
            "lr_scale": scale,
            "layer_id": layer_id,
        }
    return groups


def assert_groups(got: dict[str, dict[str, Any]], want: dict[str, dict[str, Any]]) -> None:
    """One group per parameter, in the model's order, each with the wanted values."""
    assert list(got) == list(want)
    for name, values in want.items():
        for key, value in values.items():
            assert got[name][key] == pytest.approx(value, rel=1e-12), (name, key)


@pytest.mark.parametrize(
    "class_name", ["VisionTransformer", "MAE", "BEiT", "TinyViT", "DistilledVisionTransformer"]
)
def test_vit_family_by_class_name(models: Any, class_name: str) -> None:
    model = models.Classifier(models.named(models.TokenBackbone, class_name)())
    optimizer = models.build(model, {"decay_rate": 0.75, "num_layers": 2})
    assert_groups(models.groups_by_name(optimizer, model), expected(VIT, 0.75, 2, ADAMW))


def test_vit_matches_mmpretrain_ran_numbers(models: Any) -> None:
    """mmpretrain, tiny ViT, AdamW lr 4e-3 wd 0.05, rate 0.75 (section 6 [ran])."""
    model = models.Classifier(models.named(models.TokenBackbone, "VisionTransformer")())
    groups = models.groups_by_name(models.build(model, {"decay_rate": 0.75, "num_layers": 2}), model)
    by_layer = {g["layer_id"]: (g["lr_scale"], g["lr"]) for g in groups.values()}
    assert by_layer == {
        0: pytest.approx((0.421875, 0.0016875)),
        1: pytest.approx((0.5625, 0.00225)),
        2: pytest.approx((0.75, 0.003)),
        3: pytest.approx((1.0, 0.004)),
    }
    decayed = {name for name, g in groups.items() if g["weight_decay"] == 0.05}
    assert decayed == {name for name, p in model.named_parameters() if p.ndim > 1} - {
        "backbone.cls_token",
        "backbone.pos_embed",
    }


def test_vit_matches_mmseg_derived_scales(models: Any) -> None:
    """mmseg ViT, num_layers = 2, rate 0.9: ids 0/1/2/3 -> 0.729/0.81/0.9/1.0."""
    model = models.Classifier(models.named(models.TokenBackbone, "MAE")())
    groups = models.groups_by_name(
        models.build(model, {"decay_rate": 0.9, "num_layers": 2, "decay_type": "layer_wise"}), model
    )
    scales = {g["layer_id"]: g["lr_scale"] for g in groups.values()}
    assert scales == {0: pytest.approx(0.729), 1: pytest.approx(0.81), 2: pytest.approx(0.9), 3: 1.0}


def test_timm_style_blocks_count_as_layers(models: Any) -> None:
    class VisionTransformer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.cls_token = nn.Parameter(torch.zeros(1, 1, 4))
            self.blocks = nn.ModuleList(nn.Linear(4, 4) for _ in range(3))
            self.norm = nn.LayerNorm(4)

    model = models.Classifier(VisionTransformer())
    groups = models.groups_by_name(models.build(model, {"decay_rate": 0.5, "num_layers": 3}), model)
    assert [g["layer_id"] for g in groups.values()] == [0, 1, 1, 2, 2, 3, 3, 4, 4, 4, 4]


# Classifier(StageBackbone()) with depths [1, 1, 4, 1]: downsample conv i, stage blocks, norm, head.
def _convnext(downsample: list[int], stage: dict[int, list[int]], rest: int) -> dict[str, tuple[int, bool]]:
    layers: dict[str, tuple[int, bool]] = {}
    for i, layer_id in enumerate(downsample):
        layers[f"backbone.downsample_layers.{i}.weight"] = (layer_id, True)
        layers[f"backbone.downsample_layers.{i}.bias"] = (layer_id, False)
    for i, ids in stage.items():
        for j, layer_id in enumerate(ids):
            layers[f"backbone.stages.{i}.{j}.weight"] = (layer_id, True)  # depthwise conv: 4-D, decayed
            layers[f"backbone.stages.{i}.{j}.bias"] = (layer_id, False)
    for name in ("backbone.norm.weight", "backbone.norm.bias", "head.weight", "head.bias"):
        layers[name] = (rest, name == "head.weight")
    return layers


def test_convnext_layer_wise(models: Any) -> None:
    """mmseg: downsample 0/1/2/3 -> 0/2/3/M, stages 0/1 -> 1/2, stage 2 block b -> 3 + b // 3,
    stage 3 -> M, the rest M + 1 (= N - 1); M = num_layers = 6."""
    model = models.Classifier(models.named(models.StageBackbone, "ConvNeXt")())
    layers = _convnext([0, 2, 3, 6], {0: [1], 1: [2], 2: [3, 3, 3, 4], 3: [6]}, rest=7)
    optimizer = models.build(model, {"decay_rate": 0.8, "num_layers": 6})
    assert_groups(models.groups_by_name(optimizer, model), expected(layers, 0.8, 6, ADAMW))
    stage3 = models.groups_by_name(optimizer, model)["backbone.stages.3.0.weight"]
    assert stage3["lr_scale"] == pytest.approx(0.8)  # rate ** 1, as mmseg


def test_convnext_stage_wise_matches_mmseg(models: Any) -> None:
    """mmseg's shipped configs: num_layers = 12, rate 0.9 -> heads 1.0, stage 3 0.9^9, stage 0
    0.9^12, downsample 0.9^13."""
    model = models.Classifier(models.named(models.StageBackbone, "ConvNeXt")())
    layers = _convnext([0, 0, 0, 0], {0: [1], 1: [2], 2: [3, 3, 3, 3], 3: [4]}, rest=13)
    optimizer = models.build(model, {"decay_rate": 0.9, "num_layers": 12, "decay_type": "stage_wise"})
    assert_groups(models.groups_by_name(optimizer, model), expected(layers, 0.9, 12, ADAMW))
    groups = models.groups_by_name(optimizer, model)
    assert groups["head.weight"]["lr_scale"] == 1.0
    assert groups["backbone.stages.3.0.weight"]["lr_scale"] == pytest.approx(0.387420489)
    assert groups["backbone.stages.0.0.weight"]["lr_scale"] == pytest.approx(0.2824295365)
    assert groups["backbone.downsample_layers.2.weight"]["lr_scale"] == pytest.approx(0.2541865828)


def test_swin_layer_wise(models: Any) -> None:
    """mmpretrain: patch_embed -> 0, stages.s.blocks.b -> sum(depths[:s]) + b + 1, stage s's
    downsample -> sum(depths[:s + 1]), the rest N - 1; the position embedding -> 0 (here)."""
    model = models.Classifier(models.named(models.WindowBackbone, "SwinTransformer")())
    layers = {
        "backbone.absolute_pos_embed": (0, False),
        "backbone.patch_embed.weight": (0, True),
        "backbone.patch_embed.bias": (0, False),
        "backbone.stages.0.blocks.0.weight": (1, True),
        "backbone.stages.0.blocks.0.bias": (1, False),
        "backbone.stages.0.blocks.1.weight": (2, True),
        "backbone.stages.0.blocks.1.bias": (2, False),
        "backbone.stages.0.downsample.reduction.weight": (2, True),
        "backbone.stages.0.downsample.norm.weight": (2, False),
        "backbone.stages.0.downsample.norm.bias": (2, False),
        "backbone.stages.1.blocks.0.weight": (3, True),
        "backbone.stages.1.blocks.0.bias": (3, False),
        "backbone.stages.1.blocks.1.weight": (4, True),
        "backbone.stages.1.blocks.1.bias": (4, False),
        "backbone.stages.1.blocks.2.weight": (5, True),
        "backbone.stages.1.blocks.2.bias": (5, False),
        "backbone.norm.weight": (6, False),
        "backbone.norm.bias": (6, False),
        "head.weight": (6, True),
        "head.bias": (6, False),
    }
    sgd = {"type": "SGD", "lr": 0.1, "weight_decay": 1e-4}
    optimizer = models.build(model, {"decay_rate": 0.75, "num_layers": 5}, sgd)
    assert_groups(models.groups_by_name(optimizer, model), expected(layers, 0.75, 5, sgd))


def test_a_model_without_backbone_is_its_own_backbone(models: Any) -> None:
    model = models.named(models.TokenBackbone, "MAE")()
    groups = models.groups_by_name(models.build(model, {"decay_rate": 0.5, "num_layers": 2}), model)
    assert groups["cls_token"]["layer_id"] == 0
    assert groups["layers.1.1.weight"]["layer_id"] == 2
    assert groups["ln.weight"]["layer_id"] == 3


def test_family_detection_follows_the_class_hierarchy(models: Any) -> None:
    vit = models.named(models.TokenBackbone, "VisionTransformer")
    assert find_family(models.named(vit, "MyEncoder")()).name == "ViT"
    assert find_family(models.named(models.StageBackbone, "ConvNeXtV2")()).name == "ConvNeXt"
    assert find_family(models.named(models.WindowBackbone, "SwinTransformerV2")()).name == "Swin"
    assert find_family(models.named(models.TokenBackbone, "ResNet")()) is None
