"""MMPretrain's ``LearningRateDecayOptimWrapperConstructor``: every group against layer ids and
weight decays written out by hand, lr = lr * rate ** (max_id - layer_id - 1)."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from customrun_core import registry
from customrun_core.errors import ConfigError
from customrun_core.optim import build_optim_wrapper
from torch import nn

from customrun_layer_decay import LearningRateDecayOptimWrapperConstructor

NAME = "LearningRateDecayOptimWrapperConstructor"
DIM = 4


class Block(nn.Module):
    """An MMPretrain transformer layer's names: ln1, attn.qkv, ln2, ffn.fc."""

    def __init__(self) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(DIM)
        self.attn = nn.ModuleDict({"qkv": nn.Linear(DIM, 3 * DIM)})
        self.ln2 = nn.LayerNorm(DIM)
        self.ffn = nn.ModuleDict({"fc": nn.Linear(DIM, DIM)})


class VisionTransformer(nn.Module):
    """MMPretrain's ViT names: cls_token, pos_embed, patch_embed.projection, layers.i, ln1."""

    def __init__(self, depth: int = 2) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, DIM))
        self.pos_embed = nn.Parameter(torch.zeros(1, 3, DIM))
        self.patch_embed = nn.ModuleDict({"projection": nn.Conv2d(3, DIM, 2)})
        self.layers = nn.ModuleList(Block() for _ in range(depth))
        self.ln1 = nn.LayerNorm(DIM)


class ImageClassifier(nn.Module):
    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.ModuleDict({"fc": nn.Linear(DIM, 3)})


def build(models: Any, model: nn.Module, paramwise_cfg: dict[str, Any] | None, optimizer: Any = None) -> Any:
    """The optimizer MMPretrain's constructor builds (conftest's ``build``)."""
    return models.build(model, paramwise_cfg, optimizer, constructor=NAME)


def vit_layers() -> dict[str, int]:
    """ImageClassifier(VisionTransformer(depth=2)): MMPretrain's ids, written out (max_id 4)."""
    layers = {"backbone.cls_token": 0, "backbone.pos_embed": 0}
    layers |= {f"backbone.patch_embed.projection.{p}": 0 for p in ("weight", "bias")}
    for i in range(2):
        for module in ("ln1", "attn.qkv", "ln2", "ffn.fc"):
            layers |= {f"backbone.layers.{i}.{module}.{p}": i + 1 for p in ("weight", "bias")}
    layers |= {f"{module}.{p}": 3 for module in ("backbone.ln1", "head.fc") for p in ("weight", "bias")}
    return layers


def test_the_entry_point_resolves_to_the_constructor(models: Any) -> None:
    registry.refresh()
    assert registry.resolve("optim_wrapper_constructors", NAME) is LearningRateDecayOptimWrapperConstructor


def test_mmpretrain_ran_numbers_for_a_tiny_vit(models: Any) -> None:
    """The reference's [ran] MMPretrain numbers: AdamW lr 4e-3, wd 0.05, layer_decay_rate 0.75,
    norm_decay_mult 0, flat_decay_mult 0, custom_keys .cls_token / .pos_embed decay_mult 0."""
    model = ImageClassifier(VisionTransformer())
    cfg = {
        "layer_decay_rate": 0.75,
        "norm_decay_mult": 0.0,
        "flat_decay_mult": 0.0,
        "custom_keys": {".cls_token": {"decay_mult": 0.0}, ".pos_embed": {"decay_mult": 0.0}},
    }
    groups = models.groups_by_name(build(models, model, cfg), model)
    layers = vit_layers()
    assert list(groups) == list(layers)  # one group per parameter, in the model's order
    scale = {0: 0.421875, 1: 0.5625, 2: 0.75, 3: 1.0}
    matrices = {"backbone.patch_embed.projection.weight", "head.fc.weight"}
    matrices |= {f"backbone.layers.{i}.{m}.weight" for i in range(2) for m in ("attn.qkv", "ffn.fc")}
    for name, layer_id in layers.items():
        group = groups[name]
        assert group["layer_id"] == layer_id, name
        assert group["lr_scale"] == pytest.approx(scale[layer_id], rel=1e-12), name
        assert group["lr"] == pytest.approx(4e-3 * scale[layer_id], rel=1e-12), name
        assert group["weight_decay"] == (0.05 if name in matrices else 0.0), name
        assert "decay_mult" not in group, name  # MMPretrain takes it out of the entries


def test_without_rules_every_parameter_decays_and_entries_are_copied(models: Any) -> None:
    """No *_decay_mult: weight_decay is the optimizer's everywhere; a custom key's decay_mult
    multiplies it, its other entries reach the group, its lr_mult changes nothing (a warning)."""
    model = ImageClassifier(VisionTransformer(depth=3))
    custom_keys = {"head": {"lr_mult": 10.0, "decay_mult": 0.5, "tag": 1}, "nothing": {"decay_mult": 0.0}}
    sgd = {"type": "SGD", "lr": 0.1, "weight_decay": 1e-4}
    with pytest.warns(UserWarning) as caught:
        groups = models.groups_by_name(
            build(models, model, {"layer_decay_rate": 0.5, "custom_keys": custom_keys}, sgd), model
        )
    messages = [str(w.message) for w in caught]
    assert any("custom_keys.head.lr_mult: has no effect" in m for m in messages)
    assert any("custom_keys.nothing: sets no parameter" in m for m in messages)
    # depth 3: max_id 5; layers.i -> i + 1; rate 0.5
    assert groups["backbone.cls_token"]["lr"] == pytest.approx(0.1 * 0.5**4)
    assert groups["backbone.layers.2.ln1.bias"]["lr"] == pytest.approx(0.1 * 0.5)
    assert groups["backbone.layers.0.ln2.weight"]["weight_decay"] == 1e-4
    head = groups["head.fc.bias"]
    assert (head["lr"], head["weight_decay"], head["layer_id"]) == (
        pytest.approx(0.1),
        pytest.approx(5e-5),
        4,
    )
    assert (head["lr_mult"], head["tag"]) == (10.0, 1)


def test_bias_and_norm_mults_take_the_first_branch_that_applies(models: Any) -> None:
    """MMPretrain's order: custom key, norm layer, a parameter named bias, a 1-D tensor."""
    model = ImageClassifier(VisionTransformer(depth=1))
    cfg = {"norm_decay_mult": 0.1, "bias_decay_mult": 0.2, "flat_decay_mult": 0.3}
    groups = models.groups_by_name(build(models, model, cfg), model)
    assert groups["backbone.layers.0.ln1.weight"]["weight_decay"] == pytest.approx(0.05 * 0.1)
    assert groups["backbone.layers.0.ln1.bias"]["weight_decay"] == pytest.approx(0.05 * 0.1)
    assert groups["backbone.layers.0.attn.qkv.bias"]["weight_decay"] == pytest.approx(0.05 * 0.2)
    assert groups["backbone.cls_token"]["weight_decay"] == 0.05  # 3-D
    assert all(g["lr_scale"] == 1.0 for g in groups.values())  # layer_decay_rate defaults to 1


def test_the_models_get_layer_depth_decides(models: Any) -> None:
    """MMPretrain's ImageClassifier delegates to backbone.get_layer_depth(name, 'backbone.')."""

    class Backbone(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Linear(DIM, DIM)
            self.blocks = nn.ModuleList(nn.Linear(DIM, DIM) for _ in range(3))

        def get_layer_depth(self, param_name: str, prefix: str = "") -> tuple[int, int]:
            name = param_name.removeprefix(prefix)
            return (int(name.split(".")[1]) + 1 if name.startswith("blocks.") else 0), 5

    model = ImageClassifier(Backbone())
    groups = models.groups_by_name(build(models, model, {"layer_decay_rate": 0.5}), model)
    ids = {name: g["layer_id"] for name, g in groups.items()}
    assert ids == {
        "backbone.stem.weight": 0,
        "backbone.stem.bias": 0,
        **{f"backbone.blocks.{i}.{p}": i + 1 for i in range(3) for p in ("weight", "bias")},
        "head.fc.weight": 4,
        "head.fc.bias": 4,
    }
    assert groups["backbone.stem.weight"]["lr"] == pytest.approx(4e-3 * 0.5**4)


class SwinStage(nn.Module):
    def __init__(self, depth: int, downsample: bool) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(nn.Linear(DIM, DIM, bias=False) for _ in range(depth))
        if downsample:
            self.downsample = nn.ModuleDict(
                {"norm": nn.LayerNorm(DIM), "reduction": nn.Linear(DIM, DIM, bias=False)}
            )


class SwinTransformer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.patch_embed = nn.ModuleDict({"projection": nn.Linear(DIM, DIM, bias=False)})
        self.absolute_pos_embed = nn.Parameter(torch.zeros(1, 2, DIM))
        self.stages = nn.ModuleList([SwinStage(2, True), SwinStage(3, False)])
        self.norm1 = nn.LayerNorm(DIM)


def test_swin_rule(models: Any) -> None:
    """sum(depths) + 2 = 7 ids: patch_embed 0; stages.s.blocks.b sum(depths[:s]) + b + 1;
    stages.s.downsample sum(depths[:s + 1]); absolute_pos_embed and the rest 6."""
    model = ImageClassifier(SwinTransformer())
    groups = models.groups_by_name(build(models, model, {"layer_decay_rate": 0.9}), model)
    ids = {name: g["layer_id"] for name, g in groups.items()}
    assert ids == {
        "backbone.absolute_pos_embed": 6,
        "backbone.patch_embed.projection.weight": 0,
        "backbone.stages.0.blocks.0.weight": 1,
        "backbone.stages.0.blocks.1.weight": 2,
        "backbone.stages.0.downsample.norm.weight": 2,
        "backbone.stages.0.downsample.norm.bias": 2,
        "backbone.stages.0.downsample.reduction.weight": 2,
        "backbone.stages.1.blocks.0.weight": 3,
        "backbone.stages.1.blocks.1.weight": 4,
        "backbone.stages.1.blocks.2.weight": 5,
        "backbone.norm1.weight": 6,
        "backbone.norm1.bias": 6,
        "head.fc.weight": 6,
        "head.fc.bias": 6,
    }
    assert groups["backbone.stages.0.blocks.1.weight"]["lr_scale"] == pytest.approx(0.9**4)


class ConvNeXt(nn.Module):
    def __init__(self, depths: tuple[int, ...]) -> None:
        super().__init__()
        self.downsample_layers = nn.ModuleList(nn.Linear(DIM, DIM, bias=False) for _ in depths)
        self.stages = nn.ModuleList(
            nn.Sequential(*(nn.Linear(DIM, DIM, bias=False) for _ in range(n))) for n in depths
        )
        self.norm3 = nn.LayerNorm(DIM)


@pytest.mark.parametrize(("depths", "deepest"), [((1, 1, 4, 1), 6), ((1, 1, 10, 1), 12)])
def test_convnext_rule(models: Any, depths: tuple[int, ...], deepest: int) -> None:
    """M = 12 if the next-to-last stage has more than 9 blocks, else 6: downsample 0/1/2/3 ->
    0/2/3/M, stages 0/1 -> 1/2, stages.2.b -> 3 + b // 3, stages.3 -> M, the rest M + 1 of M + 2."""
    model = ImageClassifier(ConvNeXt(depths))
    groups = models.groups_by_name(build(models, model, {"layer_decay_rate": 0.5}), model)
    ids = {name: g["layer_id"] for name, g in groups.items()}
    want = {f"backbone.downsample_layers.{i}.weight": layer for i, layer in enumerate((0, 2, 3, deepest))}
    want |= {
        "backbone.stages.0.0.weight": 1,
        "backbone.stages.1.0.weight": 2,
        "backbone.stages.3.0.weight": deepest,
    }
    want |= {f"backbone.stages.2.{b}.weight": 3 + b // 3 for b in range(depths[2])}
    want |= {"backbone.norm3.weight": deepest + 1, "backbone.norm3.bias": deepest + 1}
    want |= {"head.fc.weight": deepest + 1, "head.fc.bias": deepest + 1}
    assert ids == want
    assert groups["backbone.downsample_layers.0.weight"]["lr_scale"] == pytest.approx(0.5 ** (deepest + 1))


def test_one_step_equals_adamw_with_hand_built_groups(models: Any) -> None:
    torch.manual_seed(0)
    model = ImageClassifier(VisionTransformer())
    twin = ImageClassifier(VisionTransformer())
    twin.load_state_dict(model.state_dict())
    optimizer = build(models, model, {"layer_decay_rate": 0.75, "flat_decay_mult": 0.0})
    layers = vit_layers()
    hand = [
        {"params": [p], "lr": 4e-3 * 0.75 ** (3 - layers[n]), "weight_decay": 0.0 if p.ndim == 1 else 0.05}
        for n, p in twin.named_parameters()
    ]
    reference = torch.optim.AdamW(hand)
    for net, opt in ((model, optimizer), (twin, reference)):
        for param in net.parameters():
            param.grad = torch.ones_like(param)
        opt.step()
    for (name, param), (_, expected) in zip(model.named_parameters(), twin.named_parameters(), strict=True):
        torch.testing.assert_close(param, expected, rtol=0, atol=0, msg=name)


@pytest.mark.parametrize(
    ("paramwise_cfg", "optimizer", "line"),
    [
        (
            {"layer_decay_rate": 1.5},
            None,
            "paramwise_cfg.layer_decay_rate: expected a number in (0, 1], got float 1.5",
        ),
        (
            {"decay_rate": 0.9},
            None,
            "paramwise_cfg.decay_rate: unknown key (did you mean 'layer_decay_rate'?)",
        ),
        (
            {"dwconv_decay_mult": 0.0},
            None,
            "paramwise_cfg.dwconv_decay_mult: MMPretrain's LearningRateDecayOptimWrapperConstructor does not "
            "read it (remove it; LearningRateDecayOptimizerConstructor has custom_keys with lr_mult)",
        ),
        (
            {"layer_decay_rate": 0.9},
            {"type": "AdamW", "weight_decay": 0.05},
            "optimizer.lr: required key is missing (LearningRateDecayOptimWrapperConstructor scales it per layer)",
        ),
    ],
)
def test_mistakes_are_one_line(
    models: Any, paramwise_cfg: dict[str, Any], optimizer: dict[str, Any] | None, line: str
) -> None:
    with pytest.raises(ConfigError) as info:
        build(models, ImageClassifier(VisionTransformer()), paramwise_cfg, optimizer)
    assert str(info.value) == line


def test_a_model_without_layer_ids_is_one_line(models: Any) -> None:
    class ResNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Linear(DIM, DIM)

    with pytest.raises(ConfigError) as info:
        build(models, ImageClassifier(ResNet()), {"layer_decay_rate": 0.9})
    assert str(info.value).startswith("constructor: no layer ids for backbone class 'ResNet'; give the model")
    assert "\n" not in str(info.value)


def test_the_readme_config_builds_mmpretrains_groups(models: Any) -> None:
    import re
    import tomllib
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", readme, flags=re.DOTALL)
    cfg = next(tomllib.loads(b)["optim_wrapper"] for b in blocks if NAME in b)
    model = ImageClassifier(VisionTransformer())
    groups = models.groups_by_name(build_optim_wrapper(model, cfg).optimizer, model)
    decayed = {name for name, g in groups.items() if g["weight_decay"] == 0.05}
    assert decayed == {n for n, p in model.named_parameters() if p.ndim > 1} - {
        "backbone.cls_token",
        "backbone.pos_embed",
    }
    assert groups["backbone.cls_token"]["lr"] == pytest.approx(0.004 * 0.65**3)
