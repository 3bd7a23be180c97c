"""Every mistake is one line naming its key, relative to the ``optim_wrapper`` table."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner
from customrun_core.cli import cli
from customrun_core.errors import ConfigError

SEED = "examples/seeds/layer_decay.toml"
OK = {"decay_rate": 0.9, "num_layers": 2}
RULE_EXAMPLE = '{ prefix = "backbone.layers", layer_from_index = true, offset = 1 }'


def error_line(models: Any, model: Any, paramwise_cfg: Any, optimizer: dict[str, Any] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        models.build(model, paramwise_cfg, optimizer)
    return str(info.value)


@pytest.mark.parametrize(
    ("paramwise_cfg", "line"),
    [
        pytest.param(None, "paramwise_cfg.decay_rate: required key is missing", id="no-paramwise_cfg"),
        ({"num_layers": 2}, "paramwise_cfg.decay_rate: required key is missing"),
        ({"decay_rate": 0.9}, "paramwise_cfg.num_layers: required key is missing"),
        ({**OK, "decay_rate": 0}, "paramwise_cfg.decay_rate: expected a number in (0, 1], got integer 0"),
        ({**OK, "decay_rate": 1.5}, "paramwise_cfg.decay_rate: expected a number in (0, 1], got float 1.5"),
        (
            {**OK, "decay_rate": "0.9"},
            "paramwise_cfg.decay_rate: expected a number in (0, 1], got string '0.9'",
        ),
        ({**OK, "num_layers": 0}, "paramwise_cfg.num_layers: expected a positive integer, got integer 0"),
        ({**OK, "num_layers": 12.0}, "paramwise_cfg.num_layers: expected a positive integer, got float 12.0"),
        (
            {**OK, "decay_type": "stagewise"},
            "paramwise_cfg.decay_type: unknown decay type 'stagewise' (expected 'layer_wise' or "
            "'stage_wise') (did you mean 'stage_wise'?)",
        ),
        (
            {**OK, "decay_type": "layer_wise_vit"},  # MMSegmentation accepts any string containing layer_wise
            "paramwise_cfg.decay_type: unknown decay type 'layer_wise_vit' (expected 'layer_wise' or "
            "'stage_wise') (did you mean 'layer_wise'?)",
        ),
        (
            {"decay_rat": 0.9, "num_layers": 2},
            "paramwise_cfg.decay_rat: unknown key (did you mean 'decay_rate' or 'decay_type'?)",
        ),
        (
            {**OK, "norm_decay_mult": 0.0},
            "paramwise_cfg.norm_decay_mult: not a layer-decay setting: weight decay is 0 for 1-D tensors, "
            "biases, tokens and position embeddings and the optimizer's elsewhere; change it with "
            "custom_keys (lr_mult, decay_mult)",
        ),
        (
            {**OK, "custom_keys": {"head": {"lr": 0.1}}},
            "paramwise_cfg.custom_keys.head.lr: cannot be set per key (the constructor computes it from "
            "the layer, lr_mult and decay_mult)",
        ),
        (
            {**OK, "custom_keys": {"head": {"layer_id": 1}}},
            "paramwise_cfg.custom_keys.head.layer_id: cannot be set per key (the constructor computes it "
            "from the layer, lr_mult and decay_mult)",
        ),
        (
            {**OK, "layer_rules": "layers"},
            f"paramwise_cfg.layer_rules: expected a non-empty array of tables such as {RULE_EXAMPLE}, "
            "got string 'layers'",
        ),
        (
            {**OK, "layer_rules": [{"layer": 0}]},
            "paramwise_cfg.layer_rules[0].prefix: required key is missing",
        ),
        (
            {**OK, "layer_rules": [{"prefix": "a", "layer": 0}, {"prefix": "b", "layers": 0}]},
            "paramwise_cfg.layer_rules[1].layers: unknown key (did you mean 'layer'?)",
        ),
        (
            {**OK, "layer_rules": [{"prefix": "a", "layer": 0, "layer_from_index": True}]},
            "paramwise_cfg.layer_rules[0]: needs exactly one of layer = <id> and layer_from_index = true",
        ),
        (
            {**OK, "layer_rules": [{"prefix": "a"}]},
            "paramwise_cfg.layer_rules[0]: needs exactly one of layer = <id> and layer_from_index = true",
        ),
        (
            {**OK, "layer_rules": [{"prefix": "a", "layer": 4}]},
            "paramwise_cfg.layer_rules[0].layer: expected a layer id from 0 to 3 (num_layers + 1), "
            "got integer 4",
        ),
        (
            {**OK, "layer_rules": [{"prefix": "a", "layer": 1, "offset": 1}]},
            "paramwise_cfg.layer_rules[0].offset: applies only with layer_from_index = true",
        ),
        (
            {**OK, "layer_rules": [{"prefix": "a", "layer_from_index": True, "blocks_per_layer": 0}]},
            "paramwise_cfg.layer_rules[0].blocks_per_layer: expected an integer >= 1, got integer 0",
        ),
        (
            {**OK, "decay_type": "stage_wise", "layer_rules": [{"prefix": "", "layer": 0}]},
            "paramwise_cfg.decay_type: 'stage_wise' picks a built-in ConvNeXt rule, but layer_rules give "
            "the layer ids here (remove decay_type)",
        ),
    ],
)
def test_config_mistakes(models: Any, paramwise_cfg: Any, line: str) -> None:
    model = models.Classifier(models.named(models.TokenBackbone, "VisionTransformer")())
    assert error_line(models, model, paramwise_cfg) == line


@pytest.mark.parametrize(
    ("optimizer", "paramwise_cfg", "line"),
    [
        (
            {"type": "AdamW", "weight_decay": 0.05},
            OK,
            "paramwise_cfg.decay_rate: scales the optimizer's lr, which is not set (add lr to "
            "optim_wrapper.optimizer)",
        ),
        (
            {"type": "AdamW", "lr": 1e-3},
            {**OK, "custom_keys": {"head": {"decay_mult": 0.0}}},
            "paramwise_cfg.custom_keys.head.decay_mult: multiplies the optimizer's weight_decay, which is "
            "not set (add weight_decay to optim_wrapper.optimizer)",
        ),
    ],
)
def test_multipliers_need_their_base(models: Any, optimizer: dict, paramwise_cfg: dict, line: str) -> None:
    model = models.Classifier(models.named(models.TokenBackbone, "VisionTransformer")())
    assert error_line(models, model, paramwise_cfg, optimizer) == line


FIXES = (
    "add paramwise_cfg.layer_rules, give the model (or its backbone) a get_layer_depth(name) -> "
    "(layer_id, max_id) method, or use a backbone whose class name contains ConvNeXt, Swin, BEiT, MAE, "
    "ViT or VisionTransformer"
)


@pytest.mark.parametrize(
    ("backbone", "class_name", "paramwise_cfg", "line"),
    [
        (
            "TokenBackbone",
            "ResNet",
            OK,
            f"paramwise_cfg.decay_type: 'layer_wise' has no rule for backbone class 'ResNet'; {FIXES}",
        ),
        (
            "TokenBackbone",
            "VisionTransformer",
            {**OK, "decay_type": "stage_wise"},
            "paramwise_cfg.decay_type: 'stage_wise' applies to ConvNeXt backbones only, and "
            "'VisionTransformer' is a ViT (use 'layer_wise')",
        ),
        (
            "WindowBackbone",
            "SwinTransformer",
            {"decay_rate": 0.9, "num_layers": 5, "decay_type": "stage_wise"},
            "paramwise_cfg.decay_type: 'stage_wise' applies to ConvNeXt backbones only, and "
            "'SwinTransformer' is a Swin (use 'layer_wise')",
        ),
        (
            "StageBackbone",
            "VisionTransformer",
            OK,
            "paramwise_cfg.decay_type: the ViT rule finds no layers.<i> or blocks.<i> among the parameters "
            "of backbone 'VisionTransformer'; add paramwise_cfg.layer_rules or give the model (or its "
            "backbone) a get_layer_depth(name) -> (layer_id, max_id) method",
        ),
        (
            "TokenBackbone",
            "MAE",
            {"decay_rate": 0.9, "num_layers": 1},
            "paramwise_cfg.num_layers: 'backbone.layers.1.0.weight' is layer 2 by the ViT layer_wise rule, "
            "more than num_layers = 1 (make num_layers at least 2)",
        ),
        (
            "StageBackbone",
            "ConvNeXt",
            {"decay_rate": 0.9, "num_layers": 3, "decay_type": "stage_wise"},
            "paramwise_cfg.num_layers: 'backbone.stages.3.0.weight' is layer 4 by the ConvNeXt stage_wise "
            "rule, more than num_layers = 3 (make num_layers at least 4)",
        ),
        (
            "TokenBackbone",
            "BEiT",
            {**OK, "layer_rules": [{"prefix": "backbone", "layer_from_index": True}]},
            "paramwise_cfg.layer_rules[0].prefix: 'backbone.cls_token' has no block number after 'backbone' "
            "(layer_from_index needs names such as backbone.3.weight)",
        ),
        (
            "TokenBackbone",
            "BEiT",
            {**OK, "layer_rules": [{"prefix": "backbone.layers", "layer_from_index": True, "offset": 3}]},
            "paramwise_cfg.layer_rules[0]: gives 'backbone.layers.1.0.weight' layer 4, outside 0 to 3 "
            "(num_layers + 1)",
        ),
    ],
)
def test_model_mistakes(models: Any, backbone: str, class_name: str, paramwise_cfg: dict, line: str) -> None:
    model = models.Classifier(models.named(getattr(models, backbone), class_name)())
    assert error_line(models, model, paramwise_cfg) == line


def test_get_layer_depth_mistakes(models: Any) -> None:
    model = models.Mixer(depth=3)
    assert error_line(models, model, OK) == (
        "paramwise_cfg.num_layers: the model's get_layer_depth counts 5 layer ids (num_layers = 3), "
        "but num_layers = 2 makes 4"
    )
    assert error_line(models, model, {**OK, "num_layers": 3, "decay_type": "stage_wise"}) == (
        "paramwise_cfg.decay_type: 'stage_wise' picks a built-in ConvNeXt rule, but the model states its "
        "own layer ids (get_layer_depth); remove decay_type"
    )
    model.get_layer_depth = lambda name: 0
    assert error_line(models, model, {**OK, "num_layers": 3}) == (
        "the model's get_layer_depth('stem.weight') returned 0; expected (layer_id, max_id), integers "
        "with 0 <= layer_id < max_id"
    )


def test_the_command_line_places_the_error(monkeypatch: pytest.MonkeyPatch, models: Any) -> None:
    """Through ``customrun param-groups``: the file, then the full key path under optim_wrapper."""
    monkeypatch.chdir(models.REPOSITORY)
    result = CliRunner().invoke(
        cli, ["param-groups", SEED, "--set", 'optim_wrapper.paramwise_cfg.decay_type="stage_wise"']
    )
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {SEED}: optim_wrapper.paramwise_cfg.decay_type: 'stage_wise' applies to ConvNeXt "
        "backbones only, and 'TinyViT' is a ViT (use 'layer_wise')\n"
    )
