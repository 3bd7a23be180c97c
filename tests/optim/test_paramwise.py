"""``paramwise_cfg``: MMEngine's per-parameter rules, against values worked out by hand from the rules."""

from __future__ import annotations

import copy
import logging
from typing import Any, ClassVar

import pytest
import torch
from torch import nn

from customrun_core.errors import ConfigError
from customrun_core.optim import DefaultOptimWrapperConstructor, build_optim_wrapper
from customrun_core.optim.paramwise import ParamGroups

SGD = {"type": "SGD", "lr": 0.1, "weight_decay": 1e-4}


class FlaggedSGD(torch.optim.SGD):
    """SGD whose groups may carry a flag it declares, as LARS declares ``lars_exclude``."""

    param_group_flags: ClassVar[dict[str, Any]] = {"exclude_me": bool}


RULES = {
    "norm_decay_mult": 0.0,
    "bias_lr_mult": 2.0,
    "bias_decay_mult": 0.5,
    "dwconv_decay_mult": 0.3,
    "flat_decay_mult": 0.7,
}


def param_groups(
    model: nn.Module, optimizer: dict[str, Any], paramwise_cfg: dict[str, Any] | None
) -> ParamGroups:
    constructor = DefaultOptimWrapperConstructor({"optimizer": optimizer}, paramwise_cfg)
    return constructor.param_groups(model)


def settings(model: nn.Module, result: ParamGroups) -> dict[str, dict[str, Any]]:
    """Each group as ``{parameter name: the group's entries other than params}``, checking that
    every group holds exactly one parameter."""
    names = {id(p): n for n, p in model.named_parameters()}
    out = {}
    for group in result.groups:
        (param,) = group["params"]
        out[names[id(param)]] = {k: v for k, v in group.items() if k != "params"}
    return out


def assert_settings(got: dict[str, dict[str, Any]], want: dict[str, dict[str, Any]]) -> None:
    assert list(got) == list(want)  # depth-first module order
    for name, entries in want.items():
        assert got[name] == pytest.approx(entries), name
        assert list(got[name]) == list(entries), name  # no entry missing or added


class Precedence(nn.Module):
    """The reference's [ran] precedence model."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        self.head = nn.Linear(4, 2)
        self.dw = nn.Conv2d(4, 4, 3, groups=4)


PRECEDENCE_KEYS = {
    "backbone": {"lr_mult": 0.1},
    "backbone.0": {"lr_mult": 0.5, "decay_mult": 2.0},
    "head.w": {"lr_mult": 3.0},
    "head.b": {"lr_mult": 4.0},
}


def test_reference_precedence_example_with_custom_keys() -> None:
    model = Precedence()
    result = param_groups(model, SGD, {**RULES, "custom_keys": PRECEDENCE_KEYS})
    conv = {
        "lr": 0.05,
        "weight_decay": 2e-4,
        "lr_mult": 0.5,
        "decay_mult": 2.0,
    }  # 'backbone.0' beats 'backbone'
    bn = {"lr": 0.01, "weight_decay": 1e-4, "lr_mult": 0.1}  # the norm rule is skipped for a custom key
    assert_settings(
        settings(model, result),
        {
            "backbone.0.weight": conv,
            "backbone.0.bias": conv,
            "backbone.1.weight": bn,
            "backbone.1.bias": bn,
            "head.weight": {"lr": 0.3, "weight_decay": 1e-4, "lr_mult": 3.0},
            "head.bias": {"lr": 0.4, "weight_decay": 1e-4, "lr_mult": 4.0},
            "dw.weight": {"weight_decay": 3e-5},  # lr inherited: 0.1
            "dw.bias": {"lr": 0.2, "weight_decay": 5e-5},  # the bias branch comes before dwconv
        },
    )
    assert result.unmatched_custom_keys == []


def test_reference_precedence_example_without_custom_keys() -> None:
    model = Precedence()
    result = param_groups(model, SGD, RULES)
    bias = {"lr": 0.2, "weight_decay": 5e-5}
    assert_settings(
        settings(model, result),
        {
            "backbone.0.weight": {},
            "backbone.0.bias": bias,
            "backbone.1.weight": {"weight_decay": 0.0},
            "backbone.1.bias": {"weight_decay": 0.0},  # bias_lr_mult skips norm layers
            "head.weight": {},
            "head.bias": bias,
            "dw.weight": {"weight_decay": 3e-5},
            "dw.bias": bias,
        },
    )


def test_effective_values_reach_the_optimizer() -> None:
    """Groups without lr / weight_decay inherit the optimizer's."""
    model = Precedence()
    wrapper = build_optim_wrapper(model, {"optimizer": SGD, "paramwise_cfg": RULES})
    groups = wrapper.optimizer.param_groups
    assert [g["lr"] for g in groups] == pytest.approx([0.1, 0.2, 0.1, 0.1, 0.1, 0.2, 0.1, 0.2])
    assert [g["weight_decay"] for g in groups] == pytest.approx([1e-4, 5e-5, 0, 0, 1e-4, 5e-5, 3e-5, 5e-5])


def test_one_step_equals_the_torch_optimizer_with_the_same_groups_by_hand() -> None:
    torch.manual_seed(0)
    model = Precedence()
    reference = copy.deepcopy(model)
    cfg = {"optimizer": {**SGD, "momentum": 0.9}, "paramwise_cfg": {**RULES, "custom_keys": PRECEDENCE_KEYS}}
    wrapper = build_optim_wrapper(model, cfg)
    r = reference
    by_hand = torch.optim.SGD(
        [
            {"params": [r.backbone[0].weight], "lr": 0.05, "weight_decay": 2e-4},
            {"params": [r.backbone[0].bias], "lr": 0.05, "weight_decay": 2e-4},
            {"params": [r.backbone[1].weight], "lr": 0.01, "weight_decay": 1e-4},
            {"params": [r.backbone[1].bias], "lr": 0.01, "weight_decay": 1e-4},
            {"params": [r.head.weight], "lr": 0.3, "weight_decay": 1e-4},
            {"params": [r.head.bias], "lr": 0.4, "weight_decay": 1e-4},
            {"params": [r.dw.weight], "weight_decay": 3e-5},
            {"params": [r.dw.bias], "lr": 0.2, "weight_decay": 5e-5},
        ],
        lr=0.1,
        weight_decay=1e-4,
        momentum=0.9,
    )

    def loss(m: Precedence) -> torch.Tensor:
        x = torch.linspace(-1.0, 1.0, 2 * 3 * 7 * 7).reshape(2, 3, 7, 7)
        features = m.backbone(x)
        return m.head(features.mean((2, 3))).square().mean() + m.dw(features).square().mean()

    for _ in range(2):
        wrapper.update_params(loss(model))
        loss(reference).backward()
        by_hand.step()
        by_hand.zero_grad()
    for got, want in zip(model.parameters(), reference.parameters(), strict=True):
        assert torch.allclose(got, want, rtol=0, atol=1e-7)


class Tie(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.xaba = nn.Linear(2, 2)
        self.xab = nn.Linear(2, 2, bias=False)


def test_equal_length_keys_tie_to_the_alphabetically_smaller_and_longer_keys_win() -> None:
    model = Tie()
    keys = {"ba": {"lr_mult": 2.0}, "ab": {"lr_mult": 3.0}, "xab.": {"lr_mult": 4.0}}
    with pytest.warns(UserWarning) as caught:
        result = param_groups(model, SGD, {"custom_keys": keys})
    assert_settings(
        settings(model, result),
        {
            "xaba.weight": {"lr": 0.3, "weight_decay": 1e-4, "lr_mult": 3.0},  # 'ab' and 'ba' both match
            "xaba.bias": {"lr": 0.3, "weight_decay": 1e-4, "lr_mult": 3.0},
            "xab.weight": {"lr": 0.4, "weight_decay": 1e-4, "lr_mult": 4.0},  # 'xab.' is longer than 'ab'
        },
    )
    assert result.unmatched_custom_keys == ["ba"]
    assert [str(w.message) for w in caught] == [
        "optim_wrapper.paramwise_cfg.custom_keys.ba: sets no parameter: every parameter it matches takes "
        "a longer key (e.g. 'xaba.weight' takes 'ab')"
    ]


class Mixed(nn.Module):
    """A root-level 1-D parameter, a one-input-channel conv, a depthwise conv, LayerNorm, GroupNorm
    and bias-free layers."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(4))
        self.stem = nn.Conv2d(1, 4, 3, bias=False)
        self.dw = nn.Conv2d(4, 4, 3, groups=4, bias=False)
        self.ln = nn.LayerNorm(4)
        self.gn = nn.GroupNorm(2, 4)
        self.proj = nn.Linear(4, 4, bias=False)
        self.head = nn.Linear(4, 2)


def test_rules_on_mixed_layers_without_norm_and_bias_decay() -> None:
    """Without norm_decay_mult and bias_decay_mult those branches are passed over, so norm
    parameters and biases fall through to the flat (1-D) branch."""
    model = Mixed()
    cfg = {"bias_lr_mult": 2.0, "dwconv_decay_mult": 0.3, "flat_decay_mult": 0.7}
    result = param_groups(model, {"type": "SGD", "lr": 0.1, "weight_decay": 0.01}, cfg)
    flat = {"weight_decay": 0.007}
    assert_settings(
        settings(model, result),
        {
            "scale": flat,
            "stem.weight": {},  # one input channel and groups == 1: not depthwise
            "dw.weight": {"weight_decay": 0.003},
            "ln.weight": flat,
            "ln.bias": flat,  # a norm layer's bias gets no bias_lr_mult
            "gn.weight": flat,
            "gn.bias": flat,
            "proj.weight": {},
            "head.weight": {},
            "head.bias": {"lr": 0.2, "weight_decay": 0.007},
        },
    )


def test_rules_on_mixed_layers_with_every_mult() -> None:
    model = Mixed()
    cfg = {"norm_decay_mult": 0.0, "bias_decay_mult": 0.5, "dwconv_decay_mult": 0.3, "flat_decay_mult": 0.7}
    result = param_groups(model, {"type": "SGD", "lr": 0.1, "weight_decay": 0.01}, cfg)
    norm = {"weight_decay": 0.0}
    assert_settings(
        settings(model, result),
        {
            "scale": {"weight_decay": 0.007},
            "stem.weight": {},
            "dw.weight": {"weight_decay": 0.003},
            "ln.weight": norm,
            "ln.bias": norm,
            "gn.weight": norm,
            "gn.bias": norm,
            "proj.weight": {},
            "head.weight": {},
            "head.bias": {"weight_decay": 0.005},
        },
    )


def test_without_weight_decay_the_rules_set_only_lr() -> None:
    model = Mixed()
    result = param_groups(model, {"type": "SGD", "lr": 0.1}, {"bias_lr_mult": 3.0})
    got = settings(model, result)
    assert got["head.bias"] == pytest.approx({"lr": 0.3})
    assert all(entries == {} for name, entries in got.items() if name != "head.bias")


class TinyMAE(nn.Module):
    """Root-level tokens as in MAE's ViT, one block with LayerNorms, a final norm named ``ln1``."""

    def __init__(self) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, 4))
        self.pos_embed = nn.Parameter(torch.zeros(1, 3, 4))
        self.mask_token = nn.Parameter(torch.zeros(1, 1, 4))
        self.patch_embed = nn.Linear(4, 4)
        self.blocks = nn.ModuleList([nn.ModuleDict({"ln1": nn.LayerNorm(4), "attn": nn.Linear(4, 4)})])
        self.ln1 = nn.LayerNorm(4)


# The MAE seed's custom_keys, with AdamW(lr=1.5e-4 * 4096 / 256, betas=(0.9, 0.95), weight_decay=0.05).
MAE_KEYS = {
    "ln": {"decay_mult": 0.0},
    "bias": {"decay_mult": 0.0},
    "pos_embed": {"decay_mult": 0.0},
    "mask_token": {"decay_mult": 0.0},
    "cls_token": {"decay_mult": 0.0},
}


def test_mae_custom_keys_with_adamw() -> None:
    model = TinyMAE()
    optimizer = {"type": "AdamW", "lr": 1.5e-4 * 4096 / 256, "betas": [0.9, 0.95], "weight_decay": 0.05}
    wrapper = build_optim_wrapper(model, {"optimizer": optimizer, "paramwise_cfg": {"custom_keys": MAE_KEYS}})
    no_decay = {"lr": 0.0024, "weight_decay": 0.0, "decay_mult": 0.0}
    result = param_groups(model, optimizer, {"custom_keys": MAE_KEYS})
    assert_settings(
        settings(model, result),
        {
            "cls_token": no_decay,
            "pos_embed": no_decay,
            "mask_token": no_decay,
            "patch_embed.weight": {},
            "patch_embed.bias": no_decay,
            "blocks.0.ln1.weight": no_decay,
            "blocks.0.ln1.bias": no_decay,  # 'bias' (longer) beats 'ln'; the same settings
            "blocks.0.attn.weight": {},
            "blocks.0.attn.bias": no_decay,
            "ln1.weight": no_decay,
            "ln1.bias": no_decay,
        },
    )
    groups = wrapper.optimizer.param_groups
    assert [g["weight_decay"] for g in groups] == pytest.approx([0, 0, 0, 0.05, 0, 0, 0, 0.05, 0, 0, 0])
    assert all(g["lr"] == pytest.approx(0.0024) and g["betas"] == (0.9, 0.95) for g in groups)


@pytest.mark.parametrize("key", [".cls_token", "cls_token"])
def test_root_level_names_match_with_and_without_mmengines_leading_dot(key: str) -> None:
    """``.cls_token`` (MMEngine's spelling) matches the root-level ``cls_token`` and a nested one,
    but not a parameter whose own name merely ends in it."""
    model = nn.Module()
    model.cls_token = nn.Parameter(torch.zeros(2))
    model.xcls_token = nn.Parameter(torch.zeros(2))
    model.backbone = nn.Module()
    model.backbone.cls_token = nn.Parameter(torch.zeros(2))
    result = param_groups(model, SGD, {"custom_keys": {key: {"decay_mult": 0.0}}})
    matched = {"lr": 0.1, "weight_decay": 0.0, "decay_mult": 0.0}
    assert_settings(
        settings(model, result),
        {
            "cls_token": matched,
            "xcls_token": matched if key == "cls_token" else {},
            "backbone.cls_token": matched,
        },
    )


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))


class TinyResNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.layer1 = nn.Sequential(BasicBlock(4, 8))
        self.fc = nn.Linear(8, 2)


# The SimCLR seed's custom_keys (LARS lr 0.3, momentum 0.9, weight_decay 1e-6; LARS is a plugin, so
# SGD with the same arguments here: the groups are the constructor's business, not the optimizer's).
SIMCLR_KEYS = {
    "bn": {"decay_mult": 0, "lars_exclude": True},
    "bias": {"decay_mult": 0, "lars_exclude": True},
    "downsample.1": {"decay_mult": 0, "lars_exclude": True},
}


def test_simclr_custom_keys_copy_lars_exclude_into_the_groups() -> None:
    model = TinyResNet()
    optimizer = {"type": "SGD", "lr": 0.3, "momentum": 0.9, "weight_decay": 1e-6}
    result = param_groups(model, optimizer, {"custom_keys": SIMCLR_KEYS})
    excluded = {"lr": 0.3, "weight_decay": 0.0, "decay_mult": 0, "lars_exclude": True}
    assert_settings(
        settings(model, result),
        {
            "conv1.weight": {},
            "bn1.weight": excluded,
            "bn1.bias": excluded,
            "layer1.0.conv1.weight": {},
            "layer1.0.bn1.weight": excluded,
            "layer1.0.bn1.bias": excluded,
            "layer1.0.downsample.0.weight": {},
            "layer1.0.downsample.1.weight": excluded,
            "layer1.0.downsample.1.bias": excluded,
            "fc.weight": {},
            "fc.bias": excluded,
        },
    )
    wrapper = build_optim_wrapper(
        model, {"optimizer": optimizer, "paramwise_cfg": {"custom_keys": SIMCLR_KEYS}}
    )
    flags = [g.get("lars_exclude", False) for g in wrapper.optimizer.param_groups]
    assert flags == [False, True, True, False, True, True, False, True, True, False, True]


def test_any_entry_of_a_custom_key_is_copied_and_an_explicit_lr_wins() -> None:
    model = nn.Linear(2, 2)
    keys = {"weight": {"lr": 0.5, "momentum": 0.0, "layer_id": 3}}
    result = param_groups(model, {**SGD, "momentum": 0.9}, {"custom_keys": keys})
    assert settings(model, result)["weight"] == {
        "lr": 0.5,
        "weight_decay": 1e-4,
        "momentum": 0.0,
        "layer_id": 3,
    }


def test_empty_paramwise_cfg_is_one_group_of_every_parameter_frozen_ones_included() -> None:
    model = Precedence()
    model.head.weight.requires_grad_(False)
    for paramwise_cfg in (None, {}):
        result = param_groups(model, SGD, paramwise_cfg)
        assert len(result.groups) == 1
        assert result.groups[0] == {"params": list(model.parameters())}


def test_a_paramwise_cfg_with_only_empty_custom_keys_still_gives_one_group_per_parameter() -> None:
    model = Precedence()
    result = param_groups(model, SGD, {"custom_keys": {}})
    assert len(result.groups) == 8
    assert all(set(g) == {"params"} for g in result.groups)


def test_frozen_parameters_are_left_out_with_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    model = Precedence()
    model.backbone.requires_grad_(False)
    with caplog.at_level(logging.WARNING, logger="customrun_core.optim.paramwise"):
        result = param_groups(model, SGD, RULES)
    assert list(settings(model, result)) == ["head.weight", "head.bias", "dw.weight", "dw.bias"]
    assert result.frozen == ["backbone.0.weight", "backbone.0.bias", "backbone.1.weight", "backbone.1.bias"]
    assert caplog.messages == [
        "optim_wrapper.paramwise_cfg: 4 parameter(s) with requires_grad = False left out of the optimizer: "
        "backbone.0.weight, backbone.0.bias, backbone.1.weight, backbone.1.bias"
    ]


def test_a_key_matching_only_frozen_parameters_sets_nothing() -> None:
    model = Precedence()
    model.head.requires_grad_(False)
    with pytest.warns(UserWarning) as caught:
        result = param_groups(model, SGD, {"custom_keys": {"head": {"lr_mult": 0.0}}})
    assert result.unmatched_custom_keys == ["head"]
    assert [str(w.message) for w in caught] == [
        "optim_wrapper.paramwise_cfg.custom_keys.head: sets no parameter: no trainable parameter's name contains it"
    ]


class Tied(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(3, 3, bias=False)
        self.out = nn.Linear(3, 3)
        self.out.weight = self.embed.weight


def test_a_shared_parameter_without_bypass_duplicate_names_both_places() -> None:
    with pytest.raises(ConfigError) as info:
        build_optim_wrapper(Tied(), {"optimizer": SGD, "paramwise_cfg": {"bias_lr_mult": 2.0}})
    assert str(info.value) == (
        "paramwise_cfg: 'out.weight' is the same parameter as 'embed.weight', and one parameter cannot be "
        "in two groups (set paramwise_cfg.bypass_duplicate = true to keep only the first)"
    )


def test_bypass_duplicate_keeps_the_first_place_with_a_warning() -> None:
    model = Tied()
    with pytest.warns(UserWarning) as caught:
        result = param_groups(model, SGD, {"bias_lr_mult": 2.0, "bypass_duplicate": True})
    assert_settings(settings(model, result), {"embed.weight": {}, "out.bias": {"lr": 0.2}})
    assert [str(w.message) for w in caught] == [
        "optim_wrapper.paramwise_cfg: 'out.weight' is the same parameter as 'embed.weight'; skipped (bypass_duplicate = true)"
    ]


def test_a_module_registered_twice_is_a_shared_parameter_too() -> None:
    linear = nn.Linear(2, 2)
    model = nn.Sequential(linear, nn.ReLU(), linear)
    with pytest.warns(UserWarning) as caught:
        result = param_groups(model, SGD, {"bypass_duplicate": True})
    assert [str(w.message).split(";")[0] for w in caught] == [
        "optim_wrapper.paramwise_cfg: '2.weight' is the same parameter as '0.weight'",
        "optim_wrapper.paramwise_cfg: '2.bias' is the same parameter as '0.bias'",
    ]
    assert [g["params"] for g in result.groups] == [[linear.weight], [linear.bias]]


def test_without_paramwise_cfg_a_shared_parameter_is_one_parameter() -> None:
    model = Tied()
    wrapper = build_optim_wrapper(model, {"optimizer": SGD})
    assert wrapper.optimizer.param_groups[0]["params"] == [model.embed.weight, model.out.bias]


def test_the_caller_config_is_not_changed() -> None:
    paramwise_cfg = {"custom_keys": copy.deepcopy(SIMCLR_KEYS)}
    constructor = DefaultOptimWrapperConstructor({"optimizer": SGD}, paramwise_cfg)
    constructor(TinyResNet())
    assert paramwise_cfg == {"custom_keys": SIMCLR_KEYS}


NO_WD = {"type": "SGD", "lr": 0.1}
NO_LR = {"type": "SGD", "weight_decay": 1e-4}
WD_HINT = (
    "multiplies the optimizer's weight_decay, which is not set (add weight_decay to optim_wrapper.optimizer)"
)
LR_HINT = "multiplies the optimizer's lr, which is not set (add lr to optim_wrapper.optimizer)"


@pytest.mark.parametrize(
    ("optimizer", "paramwise_cfg", "line"),
    [
        pytest.param(
            SGD,
            {"bias_decay": 0.0},
            "paramwise_cfg.bias_decay: unknown key (did you mean 'bias_decay_mult'?)",
            id="unknown-key",
        ),
        pytest.param(
            SGD,
            {"weight_decay": 0.0},
            "paramwise_cfg.weight_decay: unknown key (valid keys: bias_lr_mult, norm_decay_mult, "
            "bias_decay_mult, dwconv_decay_mult, flat_decay_mult, bypass_duplicate, custom_keys)",
            id="unknown-key-no-suggestion",
        ),
        pytest.param(SGD, "norm", "paramwise_cfg: expected a table, got string 'norm'", id="not-a-table"),
        pytest.param(
            SGD,
            {"custom_keys": ["bias"]},
            "paramwise_cfg.custom_keys: expected a table of name -> settings, got array ['bias']",
            id="custom-keys-not-a-table",
        ),
        pytest.param(
            SGD,
            {"custom_keys": {"bias": 0.0}},
            "paramwise_cfg.custom_keys.bias: expected a table such as { decay_mult = 0.0 }, got float 0.0",
            id="custom-key-not-a-table",
        ),
        pytest.param(
            NO_WD,
            {"custom_keys": {"bias": {"decay_mult": 0.0}}},
            f"paramwise_cfg.custom_keys.bias.decay_mult: {WD_HINT}",
            id="decay-mult-without-weight-decay",
        ),
        pytest.param(
            NO_WD,
            {"custom_keys": {"downsample.1": {"decay_mult": 0, "lars_exclude": True}}},
            f'paramwise_cfg.custom_keys."downsample.1".decay_mult: {WD_HINT}',
            id="dotted-custom-key-is-quoted",
        ),
        *(
            pytest.param(
                NO_WD, {name: 0.0}, f"paramwise_cfg.{name}: {WD_HINT}", id=f"{name}-without-weight-decay"
            )
            for name in ("bias_decay_mult", "norm_decay_mult", "dwconv_decay_mult", "flat_decay_mult")
        ),
        pytest.param(
            NO_LR,
            {"custom_keys": {"head": {"lr_mult": 0.1}}},
            f"paramwise_cfg.custom_keys.head.lr_mult: {LR_HINT}",
            id="lr-mult-without-lr",
        ),
        pytest.param(
            NO_LR,
            {"bias_lr_mult": 2.0},
            f"paramwise_cfg.bias_lr_mult: {LR_HINT}",
            id="bias-lr-mult-without-lr",
        ),
        pytest.param(
            SGD,
            {"norm_decay_mult": "0"},
            "paramwise_cfg.norm_decay_mult: expected a number, got string '0'",
            id="mult-not-a-number",
        ),
        pytest.param(
            SGD,
            {"custom_keys": {"head": {"lr_mult": True}}},
            "paramwise_cfg.custom_keys.head.lr_mult: expected a number, got boolean True",
            id="custom-mult-not-a-number",
        ),
        pytest.param(
            SGD,
            {"bypass_duplicate": 1},
            "paramwise_cfg.bypass_duplicate: expected a boolean, got integer 1",
            id="bypass-duplicate-not-a-boolean",
        ),
        pytest.param(
            SGD,
            {"custom_keys": {"head": {"params": []}}},
            "paramwise_cfg.custom_keys.head.params: cannot be set per key (the constructor fills it)",
            id="params-per-key",
        ),
        pytest.param(
            {"type": "SGD", "lr": "0.1"},
            {"bias_lr_mult": 2.0},
            "optimizer.lr: expected a number, got string '0.1'",
            id="lr-not-a-number",
        ),
        pytest.param(
            SGD,
            {"custom_keys": {"head": {"edcay_mult": 0.0}}},
            "paramwise_cfg.custom_keys.head.edcay_mult: unknown key: neither the constructor nor the optimizer reads it "
            "(did you mean 'decay_mult'?)",
            id="custom-entry-misspelt",
        ),
        pytest.param(
            SGD,
            {"custom_keys": {"head": {"momentun": 0.5}}},
            "paramwise_cfg.custom_keys.head.momentun: unknown key: neither the constructor nor the optimizer reads it "
            "(did you mean 'momentum'?)",
            id="custom-entry-misspelt-optimizer-setting",
        ),
        pytest.param(
            {"type": FlaggedSGD, "lr": 0.1},
            {"custom_keys": {"head": {"exclude_me": "yes"}}},
            "paramwise_cfg.custom_keys.head.exclude_me: expected a boolean, got string 'yes'",
            id="custom-entry-flag-of-the-wrong-type",
        ),
    ],
)
def test_config_mistakes_are_one_line_errors(optimizer: dict, paramwise_cfg: Any, line: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_optim_wrapper(Precedence(), {"optimizer": optimizer, "paramwise_cfg": paramwise_cfg})
    assert str(info.value) == line


def test_custom_entries_unlike_any_setting_are_copied_into_the_groups() -> None:
    """MMEngine's rule: an entry no optimizer setting resembles is a flag for whoever reads the groups."""
    optimizer = {"type": FlaggedSGD, "lr": 0.1}
    custom_keys = {"head": {"exclude_me": True, "my_tag": "head"}}
    wrapper = build_optim_wrapper(
        Precedence(), {"optimizer": optimizer, "paramwise_cfg": {"custom_keys": custom_keys}}
    )
    tagged = [group for group in wrapper.optimizer.param_groups if group.get("my_tag") == "head"]
    assert tagged and all(group["exclude_me"] is True for group in tagged)


def test_subclasses_extend_the_known_keys() -> None:
    class LayerDecay(DefaultOptimWrapperConstructor):
        paramwise_keys = (*DefaultOptimWrapperConstructor.paramwise_keys, "layer_decay_rate")

    constructor = LayerDecay({"optimizer": SGD}, {"layer_decay_rate": 0.75, "norm_decay_mult": 0.0})
    assert len(constructor.param_groups(Precedence()).groups) == 8
