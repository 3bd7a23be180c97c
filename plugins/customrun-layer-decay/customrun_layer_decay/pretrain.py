"""``LearningRateDecayOptimWrapperConstructor``: MMPretrain's layer-wise learning-rate decay, with
MMPretrain's semantics (its ``paramwise_cfg`` keys, its layer ids, its weight-decay rules)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from customrun_core import unwrap_model
from customrun_core.errors import ConfigError
from customrun_core.optim import (
    DefaultOptimWrapperConstructor,
    ParamGroups,
    build_param_groups,
    custom_key_path,
)
from torch import nn

from customrun_layer_decay.config import decay_rate
from customrun_layer_decay.depth import backbone_of, depth_pair, model_depth_function
from customrun_layer_decay.families import LayerIdRule, convnext_layer_rule, find_family, index_at, swin_rule

PRETRAIN_KEYS = (
    "layer_decay_rate",
    "norm_decay_mult",
    "bias_decay_mult",
    "flat_decay_mult",
    "custom_keys",
    "bypass_duplicate",  # customrun's: MMPretrain fails on a shared parameter
)
# The default constructor's settings that MMPretrain's constructor reads no more: refused, not ignored.
IGNORED_KEYS = ("bias_lr_mult", "dwconv_decay_mult")
_NO_DEPTH = (
    "give the model (or its backbone) a get_layer_depth(name) -> (layer_id, max_id) method, as "
    "MMPretrain's models have, or use a backbone whose class name contains ViT, VisionTransformer, "
    "BEiT, MAE, Swin or ConvNeXt"
)

# A parameter name relative to the backbone -> (layer_id, max_id).
PretrainDepth = Callable[[str], tuple[int, int]]


class LearningRateDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """MMPretrain's constructor: one group per trainable parameter, its lr scaled by its layer.

    ``paramwise_cfg``: ``layer_decay_rate`` (default 1.0, in (0, 1]), ``norm_decay_mult``,
    ``bias_decay_mult``, ``flat_decay_mult``, ``custom_keys`` and ``bypass_duplicate``. With the parameter's
    ``(layer_id, max_id)`` (the model's ``get_layer_depth``, else MMPretrain's rule for a ViT,
    Swin or ConvNeXt backbone)::

        lr_scale     = layer_decay_rate ** (max_id - layer_id - 1)
        lr           = optimizer.lr * lr_scale
        weight_decay = optimizer.weight_decay * m, m from the first of: the parameter's custom key's
                       decay_mult (1 if it sets none), norm_decay_mult for a norm layer's
                       parameters, bias_decay_mult for a ``bias``, flat_decay_mult for a 1-D tensor;
                       else 1

    A custom key's other entries are copied into the group, as MMPretrain does (``lr_mult`` too,
    where it changes nothing: a warning says so). Groups carry ``lr_scale`` and ``layer_id``.

    Args:
        optim_wrapper_cfg: the ``optim_wrapper`` table without ``constructor`` and ``paramwise_cfg``.
        paramwise_cfg: the ``paramwise_cfg`` table.
    """

    paramwise_keys: ClassVar[tuple[str, ...]] = PRETRAIN_KEYS

    def __init__(
        self, optim_wrapper_cfg: dict[str, Any], paramwise_cfg: dict[str, Any] | None = None
    ) -> None:
        for name in IGNORED_KEYS if isinstance(paramwise_cfg, Mapping) else ():
            if name in paramwise_cfg:  # type: ignore[operator]
                raise ConfigError(
                    "MMPretrain's LearningRateDecayOptimWrapperConstructor does not read it (remove it; "
                    "LearningRateDecayOptimizerConstructor has custom_keys with lr_mult)",
                    key=f"paramwise_cfg.{name}",
                )
        super().__init__(optim_wrapper_cfg, paramwise_cfg)
        if self.base_lr is None:
            raise ConfigError(
                "required key is missing (LearningRateDecayOptimWrapperConstructor scales it per layer)",
                key="optimizer.lr",
            )
        self.layer_decay_rate = decay_rate(
            self.paramwise_cfg.get("layer_decay_rate", 1.0), self.base_lr, "layer_decay_rate"
        )
        for key, entry in self.paramwise_cfg.get("custom_keys", {}).items():
            if "lr_mult" in entry:
                warnings.warn(
                    f"optim_wrapper.{custom_key_path(key, 'lr_mult')}: has no effect with "
                    "LearningRateDecayOptimWrapperConstructor (MMPretrain sets lr by layer alone)",
                    stacklevel=2,
                )

    def param_groups(self, model: nn.Module) -> ParamGroups:
        """The groups, in the default constructor's order (a module's own parameters, then its
        children's); frozen parameters are left out.

        Raises:
            ConfigError: no layer ids for this model, a malformed ``get_layer_depth`` result, or a
                shared parameter.
        """
        model = unwrap_model(model)
        rules = {k: v for k, v in self.paramwise_cfg.items() if k != "layer_decay_rate"}
        # lr None: the default rules set no lr; the layer sets it below.
        matched = build_param_groups(model, rules, None, self.base_wd)
        names = {id(param): name for name, param in model.named_parameters()}
        depth = pretrain_depths(model, [name for name, _ in model.named_parameters(remove_duplicate=False)])
        groups = []
        for matched_group in matched.groups:
            group = dict(matched_group)
            layer_id, max_id = depth(names[id(group["params"][0])])
            lr_scale = float(self.layer_decay_rate ** (max_id - layer_id - 1))
            group.pop("decay_mult", None)  # MMPretrain takes it out of the custom key's entries
            if self.base_wd is not None:
                group.setdefault("weight_decay", self.base_wd)
            group.update(lr=self.base_lr * lr_scale, lr_scale=lr_scale, layer_id=layer_id)
            groups.append(group)
        return ParamGroups(groups, matched.unmatched_custom_keys, matched.frozen)


def pretrain_depths(model: nn.Module, names: Sequence[str]) -> Callable[[str], tuple[int, int]]:
    """Full parameter name -> ``(layer_id, max_id)``, by the model's (or its backbone's)
    ``get_layer_depth``, else by MMPretrain's rule for the backbone's family; names outside the
    backbone are in the last layer, ``max_id - 1``.

    Raises:
        ConfigError: no ``get_layer_depth`` and no family rule for this model.
    """
    backbone, prefix = backbone_of(model)
    own = model_depth_function(model)
    if own is not None:
        pairs = {name: own(name) for name in names}
        found = {name: depth_pair(result, name) for name, result in pairs.items() if result is not None}
        if not found:
            raise ConfigError(f"get_layer_depth gives no parameter a layer; {_NO_DEPTH}", key="constructor")
        total = next(iter(found.values()))[1]
        return lambda name: found.get(name, (total - 1, total))
    family = find_family(backbone)
    if family is None:
        raise ConfigError(
            f"no layer ids for backbone class {type(backbone).__name__!r}; {_NO_DEPTH}", key="constructor"
        )
    inner = [name[len(prefix) :] for name in names if name.startswith(prefix)]
    rule = PRETRAIN_RULES[family.name](inner)
    total = rule("")[1]  # a name no rule places: the last layer
    return lambda name: rule(name[len(prefix) :]) if name.startswith(prefix) else (total - 1, total)


def _blocks(names: Sequence[str], head: str, stage_at: int, block_at: int | None) -> dict[int, int]:
    """Per index after ``head`` (at ``stage_at``), how many blocks (at ``block_at``) its names show;
    with ``block_at`` None, 1 per index."""
    counts: dict[int, int] = {}
    for name in names:
        parts = name.split(".")
        stage = index_at(parts, stage_at)
        block = 0 if block_at is None else index_at(parts, block_at)
        if parts[0] == head and stage is not None and block is not None:
            counts[stage] = max(counts.get(stage, 0), block + 1)
    return counts


def vit_depths(names: Sequence[str]) -> PretrainDepth:
    """MMPretrain's ``VisionTransformer.get_layer_depth``: ``cls_token``, ``pos_embed`` and
    ``patch_embed*`` -> 0; ``layers.i`` -> i + 1; the rest -> L + 1, with L = the number of layers."""
    total = len(_blocks(names, "layers", 1, None)) + 2

    def depth(name: str) -> tuple[int, int]:
        parts = name.split(".")
        if name in ("cls_token", "pos_embed") or name.startswith("patch_embed"):
            return 0, total
        layer = index_at(parts, 1)
        return (layer + 1 if parts[0] == "layers" and layer is not None else total - 1), total

    return depth


def _last_for_the_rest(rule: LayerIdRule, total: int) -> PretrainDepth:
    """A family rule as MMPretrain's method: what it does not place (and any top-level token,
    which MMPretrain's Swin and ConvNeXt do not place either) is in the last layer."""

    def depth(name: str) -> tuple[int, int]:
        layer = rule(name) if "." in name else None
        return (total - 1 if layer is None else layer), total

    return depth


def swin_depths(names: Sequence[str]) -> PretrainDepth:
    """MMPretrain's ``SwinTransformer.get_layer_depth``: ``patch_embed*`` -> 0;
    ``stages.s.blocks.b`` -> (blocks before stage s) + b + 1; stage s's ``downsample`` -> the
    blocks up to stage s; the rest (``absolute_pos_embed`` too) -> all blocks + 1."""
    return _last_for_the_rest(swin_rule(names, 0), sum(_blocks(names, "stages", 1, 3).values()) + 2)


def convnext_depths(names: Sequence[str]) -> PretrainDepth:
    """MMPretrain's ``ConvNeXt.get_layer_depth``, with M = 12 when the next-to-last stage has more
    than 9 blocks, else 6: the layer-wise ConvNeXt ids of MMSegmentation for num_layers = M, the
    rest M + 1 (of M + 2)."""
    depths = _blocks(names, "stages", 1, 2)
    deepest = 12 if depths.get(len(depths) - 2, 0) > 9 else 6
    return _last_for_the_rest(convnext_layer_rule(names, deepest), deepest + 2)


PRETRAIN_RULES: dict[str, Callable[[Sequence[str]], PretrainDepth]] = {
    "ViT": vit_depths,
    "Swin": swin_depths,
    "ConvNeXt": convnext_depths,
}
