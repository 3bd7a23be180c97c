"""custom_keys on top of the layer scale, the model's own get_layer_depth, the config's layer_rules,
frozen parameters and model wrappers."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from torch import nn

ADAMW = {"type": "AdamW", "lr": 1e-3, "weight_decay": 0.05}


def layer_ids(groups: dict[str, dict[str, Any]]) -> dict[str, int]:
    return {name: group["layer_id"] for name, group in groups.items()}


def test_custom_keys_multiply_the_layer_scale_and_set_decay(models: Any) -> None:
    model = models.Classifier(models.named(models.TokenBackbone, "VisionTransformer")())
    custom_keys = {
        "backbone.layers.0": {"lr_mult": 0.1},
        "head": {"lr_mult": 10.0, "decay_mult": 0.5, "lars_exclude": True},
        ".pos_embed": {"decay_mult": 2.0},
        "nothing": {"lr_mult": 3.0},
    }
    cfg = {"decay_rate": 0.5, "num_layers": 2, "custom_keys": custom_keys}
    with pytest.warns(UserWarning, match=r"custom_keys\.nothing: sets no parameter"):
        optimizer = models.build(model, cfg, ADAMW)
    groups = models.groups_by_name(optimizer, model)
    lr, wd = 1e-3, 0.05
    scale = {0: 0.5**3, 1: 0.5**2, 2: 0.5, 3: 1.0}  # rate ** (N - id - 1), N = 4
    want = {
        "backbone.cls_token": (lr * scale[0], 0.0, {}),
        "backbone.pos_embed": (lr * scale[0], wd * 2.0, {"decay_mult": 2.0}),  # decay_mult beats the rule
        "backbone.patch_embed.weight": (lr * scale[0], wd, {}),
        "backbone.patch_embed.bias": (lr * scale[0], 0.0, {}),
        "backbone.layers.0.0.weight": (lr * scale[1] * 0.1, 0.0, {"lr_mult": 0.1}),  # the rule still holds
        "backbone.layers.0.0.bias": (lr * scale[1] * 0.1, 0.0, {"lr_mult": 0.1}),
        "backbone.layers.0.1.weight": (lr * scale[1] * 0.1, wd, {"lr_mult": 0.1}),
        "backbone.layers.0.1.bias": (lr * scale[1] * 0.1, 0.0, {"lr_mult": 0.1}),
        "backbone.layers.1.0.weight": (lr * scale[2], 0.0, {}),
        "backbone.layers.1.0.bias": (lr * scale[2], 0.0, {}),
        "backbone.layers.1.1.weight": (lr * scale[2], wd, {}),
        "backbone.layers.1.1.bias": (lr * scale[2], 0.0, {}),
        "backbone.ln.weight": (lr * scale[3], 0.0, {}),
        "backbone.ln.bias": (lr * scale[3], 0.0, {}),
        "head.weight": (lr * scale[3] * 10.0, wd * 0.5, custom_keys["head"]),
        "head.bias": (lr * scale[3] * 10.0, wd * 0.5, custom_keys["head"]),
    }
    assert list(groups) == list(want)
    layers = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]
    for (name, (group_lr, group_wd, entries)), layer_id in zip(want.items(), layers, strict=True):
        group = groups[name]
        assert group["lr"] == pytest.approx(group_lr, rel=1e-12), name
        assert group["weight_decay"] == pytest.approx(group_wd, rel=1e-12), name
        own = {k: v for k, v in group.items() if k not in optimizer.defaults and k != "params"}
        assert own == {"lr_scale": scale[layer_id], "layer_id": layer_id, **entries}, name


def test_get_layer_depth_of_the_model(models: Any) -> None:
    model = models.Mixer(depth=3)
    groups = models.groups_by_name(models.build(model, {"decay_rate": 0.5, "num_layers": 3}), model)
    assert layer_ids(groups) == {
        "stem.weight": 0,
        "stem.bias": 0,
        "blocks.0.weight": 1,
        "blocks.0.bias": 1,
        "blocks.1.weight": 2,
        "blocks.1.bias": 2,
        "blocks.2.weight": 3,
        "blocks.2.bias": 3,
        "head.weight": 4,
        "head.bias": 4,
    }
    assert groups["stem.weight"]["lr"] == pytest.approx(4e-3 * 0.5**4)
    assert groups["blocks.2.weight"]["lr_scale"] == pytest.approx(0.5)


def test_get_layer_depth_of_the_backbone_beats_the_family_rule(models: Any) -> None:
    """MMPretrain's backbone signature, ``get_layer_depth(param_name, prefix='')``: called with the
    name less ``backbone.``; names outside the backbone are in layer N - 1."""
    seen: list[str] = []

    class VisionTransformer(models.TokenBackbone):
        def get_layer_depth(self, param_name: str, prefix: str = "") -> tuple[int, int]:
            seen.append(param_name)
            return (1 if param_name.startswith("layers.") else 0), 4

    model = models.Classifier(VisionTransformer())
    groups = models.groups_by_name(models.build(model, {"decay_rate": 0.5, "num_layers": 2}), model)
    assert seen[0] == "cls_token" and "backbone.ln.weight" not in seen
    ids = layer_ids(groups)
    assert ids["backbone.ln.weight"] == 0  # the family rule would say 3
    assert ids["backbone.layers.1.1.weight"] == 1  # the family rule would say 2
    assert ids["head.weight"] == 3


def test_layer_rules_first_match_wins_and_the_rest_is_last(models: Any) -> None:
    class Encoder(nn.Module):  # no built-in family
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Linear(6, 4)
            self.blocks = nn.ModuleList(nn.Linear(4, 4, bias=False) for _ in range(6))
            self.norm = nn.LayerNorm(4)

    rules = [
        {"prefix": "backbone.embed", "layer": 0},
        {"prefix": "backbone.blocks.5", "layer": 0},
        {"prefix": "backbone.blocks.", "layer_from_index": True, "offset": 1, "blocks_per_layer": 2},
        {"prefix": "backbone.block", "layer": 2},  # a prefix ends at a dot: covers nothing
    ]
    model = models.Classifier(Encoder())
    cfg = {"decay_rate": 0.5, "num_layers": 3, "layer_rules": rules}
    with pytest.warns(UserWarning) as caught:
        groups = models.groups_by_name(models.build(model, cfg), model)
    assert [str(w.message) for w in caught] == [
        "optim_wrapper.paramwise_cfg.layer_rules[3]: sets no parameter: "
        "no parameter is named 'backbone.block' or under it"
    ]
    assert layer_ids(groups) == {
        "backbone.embed.weight": 0,
        "backbone.embed.bias": 0,
        "backbone.blocks.0.weight": 1,
        "backbone.blocks.1.weight": 1,
        "backbone.blocks.2.weight": 2,
        "backbone.blocks.3.weight": 2,
        "backbone.blocks.4.weight": 3,
        "backbone.blocks.5.weight": 0,
        "backbone.norm.weight": 4,  # no rule: N - 1
        "backbone.norm.bias": 4,
        "head.weight": 4,
        "head.bias": 4,
    }
    assert {name: g["lr_scale"] for name, g in groups.items()}["backbone.blocks.2.weight"] == 0.5**2


def test_layer_rules_beat_get_layer_depth_and_the_family(models: Any) -> None:
    rules = [{"prefix": "", "layer": 1}]
    vit = models.Classifier(models.named(models.TokenBackbone, "VisionTransformer")())
    cfg = {"decay_rate": 0.5, "num_layers": 2, "layer_rules": rules}
    assert set(layer_ids(models.groups_by_name(models.build(vit, cfg), vit)).values()) == {1}
    mixer = models.Mixer(depth=2)
    assert set(layer_ids(models.groups_by_name(models.build(mixer, cfg), mixer)).values()) == {1}


def test_frozen_parameters_are_left_out(models: Any, caplog: pytest.LogCaptureFixture) -> None:
    model = models.Classifier(models.named(models.TokenBackbone, "MAE")())
    model.backbone.patch_embed.requires_grad_(False)
    with caplog.at_level(logging.WARNING):
        groups = models.groups_by_name(models.build(model, {"decay_rate": 0.5, "num_layers": 2}), model)
    assert "backbone.patch_embed.weight" not in groups
    assert len(groups) == 14
    assert groups["backbone.layers.0.1.weight"]["layer_id"] == 1
    assert "backbone.patch_embed.weight, backbone.patch_embed.bias" in caplog.text


def test_a_wrapped_model_is_unwrapped(models: Any) -> None:
    model = models.Classifier(models.named(models.TokenBackbone, "BEiT")())
    optimizer = models.build(nn.DataParallel(model), {"decay_rate": 0.5, "num_layers": 2})
    groups = models.groups_by_name(optimizer, model)
    assert groups["backbone.cls_token"]["layer_id"] == 0
    assert groups["head.bias"]["layer_id"] == 3
