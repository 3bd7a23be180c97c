"""``LearningRateDecayOptimizerConstructor``: layer-wise learning-rate decay (MMSegmentation's
configuration), on top of the default constructor's ``custom_keys``."""

from __future__ import annotations

from typing import Any, ClassVar

from customrun_core import unwrap_model
from customrun_core.errors import ConfigError
from customrun_core.optim import DefaultOptimWrapperConstructor, ParamGroups, build_param_groups
from torch import nn

from customrun_layer_decay.config import PARAMWISE_KEYS, parse_layer_decay, refuse_default_rules
from customrun_layer_decay.depth import layer_ids
from customrun_layer_decay.families import is_embedding

# What the default constructor still decides: which custom key a parameter takes (and the entries
# copied from it), frozen parameters, and parameters shared by two places.
_MATCHING_KEYS = ("custom_keys", "bypass_duplicate")
_OWN_ENTRIES = ("params", "lr", "weight_decay")


def no_decay(name: str, param: nn.Parameter) -> bool:
    """The one no-decay rule: 1-D (and 0-D) tensors, biases, tokens and position embeddings."""
    own = name.rsplit(".", 1)[-1]
    return param.ndim <= 1 or own == "bias" or is_embedding(own)


class LearningRateDecayOptimizerConstructor(DefaultOptimWrapperConstructor):
    """One parameter group per trainable parameter, its lr scaled by its layer's depth.

    ``paramwise_cfg``: ``decay_rate`` (in (0, 1]) and ``num_layers`` (required), ``decay_type``
    (``"layer_wise"``, the default, or ``"stage_wise"``), ``layer_rules``, ``custom_keys`` and
    ``bypass_duplicate``. With N = num_layers + 2 and the parameter's layer id (from
    ``layer_rules``, else the model's ``get_layer_depth``, else its backbone family's rule)::

        lr_scale     = decay_rate ** (N - layer_id - 1)
        lr           = optimizer.lr * lr_scale * lr_mult
        weight_decay = optimizer.weight_decay * decay_mult   if its custom key sets decay_mult
                     = 0                                     if no_decay(name, param)
                     = optimizer.weight_decay                otherwise

    ``lr_mult``/``decay_mult`` come from the custom key the default constructor matches (1 when
    none); every entry of that key is copied into the group, after ``lr_scale`` and ``layer_id``.
    The config is checked when the constructor is created; README.md has the rules.

    Args:
        optim_wrapper_cfg: the ``optim_wrapper`` table without ``constructor`` and ``paramwise_cfg``.
        paramwise_cfg: the ``paramwise_cfg`` table.
    """

    paramwise_keys: ClassVar[tuple[str, ...]] = PARAMWISE_KEYS
    rate_key: ClassVar[str] = "decay_rate"  # the paramwise_cfg key of the decay rate

    def __init__(
        self, optim_wrapper_cfg: dict[str, Any], paramwise_cfg: dict[str, Any] | None = None
    ) -> None:
        refuse_default_rules(paramwise_cfg)
        super().__init__(optim_wrapper_cfg, paramwise_cfg)
        self.layer_decay = parse_layer_decay(self.paramwise_cfg, self.base_lr, self.rate_key)

    def no_decay(self, name: str, param: nn.Parameter) -> bool:
        """Whether the parameter of full name ``name`` gets no weight decay (:func:`no_decay`)."""
        return no_decay(name, param)

    def param_groups(self, model: nn.Module) -> ParamGroups:
        """The groups the optimizer gets (and ``customrun param-groups`` shows), in the default
        constructor's order: depth first, a module's own parameters before its children's.

        Raises:
            ConfigError: no layer ids for this model, a layer id out of range, or a shared parameter
                without ``bypass_duplicate``.
        """
        model = unwrap_model(model)
        matching = {k: v for k, v in self.paramwise_cfg.items() if k in _MATCHING_KEYS}
        matched = build_param_groups(model, matching, self.base_lr, self.base_wd)
        names = {id(param): name for name, param in model.named_parameters()}
        ids = layer_ids(model, list(names.values()), self.layer_decay)
        groups = []
        for group in matched.groups:
            name = names[id(group["params"][0])]
            groups.append(self.layer_group(group, name, ids[name]))
        return ParamGroups(groups, matched.unmatched_custom_keys, matched.frozen)

    def layer_group(self, matched: dict[str, Any], name: str, layer_id: int) -> dict[str, Any]:
        """The group of one parameter, from the default constructor's group for it (which holds the
        entries of its custom key, if any) and its layer id."""
        (param,) = matched["params"]
        entries = {k: v for k, v in matched.items() if k not in _OWN_ENTRIES}
        lr_scale = self.layer_decay.scale(layer_id)
        group: dict[str, Any] = {
            "params": [param],
            "lr": self.base_lr * lr_scale * entries.get("lr_mult", 1.0),
        }
        if "decay_mult" in entries:  # the default constructor refuses decay_mult without weight_decay
            group["weight_decay"] = self.base_wd * entries["decay_mult"]
        elif self.no_decay(name, param):
            group["weight_decay"] = 0.0
        elif self.base_wd is not None:
            group["weight_decay"] = self.base_wd
        group.update(lr_scale=lr_scale, layer_id=layer_id, **entries)
        return group


class LayerDecayOptimizerConstructor(LearningRateDecayOptimizerConstructor):
    """MMSegmentation's constructor of its BEiT and MAE configs (the one it deprecates in favour of
    ``LearningRateDecayOptimizerConstructor``), with MMSegmentation's semantics.

    ``paramwise_cfg``: ``num_layers`` and ``layer_decay_rate`` (required), ``layer_rules``,
    ``bypass_duplicate``. It is
    :class:`LearningRateDecayOptimizerConstructor` with ``decay_rate = layer_decay_rate`` and the
    ``layer_wise`` ids, except for weight decay, which is 0 exactly where MMSegmentation makes it
    0: 1-D tensors, names ending in ``.bias``, and top-level parameters named ``pos_embed`` or
    ``cls_token`` (so ``backbone.cls_token`` *is* decayed, as in MMSegmentation's BEiT runs).
    ``custom_keys``, which MMSegmentation ignores, are refused.

    Args:
        optim_wrapper_cfg: the ``optim_wrapper`` table without ``constructor`` and ``paramwise_cfg``.
        paramwise_cfg: the ``paramwise_cfg`` table.
    """

    paramwise_keys: ClassVar[tuple[str, ...]] = (
        "num_layers",
        "layer_decay_rate",
        "layer_rules",
        "bypass_duplicate",
    )
    rate_key: ClassVar[str] = "layer_decay_rate"

    def __init__(
        self, optim_wrapper_cfg: dict[str, Any], paramwise_cfg: dict[str, Any] | None = None
    ) -> None:
        if isinstance(paramwise_cfg, dict) and "custom_keys" in paramwise_cfg:
            raise ConfigError(
                "MMSegmentation's LayerDecayOptimizerConstructor ignores them; to apply them, use "
                'constructor = "LearningRateDecayOptimizerConstructor" with decay_rate',
                key="paramwise_cfg.custom_keys",
            )
        super().__init__(optim_wrapper_cfg, paramwise_cfg)

    def no_decay(self, name: str, param: nn.Parameter) -> bool:
        """MMSegmentation's rule: 1-D, a name ending in ``.bias``, or exactly ``pos_embed`` / ``cls_token``."""
        return param.ndim == 1 or name.endswith(".bias") or name in ("pos_embed", "cls_token")
