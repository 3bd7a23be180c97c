"""Which layer each parameter is in: the config's rules, else the model's own ``get_layer_depth``,
else the built-in rule of the backbone's family."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

from customrun_core.errors import ConfigError
from torch import nn

from customrun_layer_decay.config import LayerDecay
from customrun_layer_decay.families import MARKERS, Family, RuleFactory, find_family
from customrun_layer_decay.rules import rule_layer_ids

BACKBONE = "backbone."
_ADD_RULES = "add paramwise_cfg.layer_rules"
_ADD_METHOD = "give the model (or its backbone) a get_layer_depth(name) -> (layer_id, max_id) method"

# Full parameter name -> (layer_id, max_id), or None for a name outside the backbone (layer N - 1).
DepthFunction = Callable[[str], Any]


def layer_ids(model: nn.Module, names: Sequence[str], settings: LayerDecay) -> dict[str, int]:
    """The layer id, from 0 to N - 1, of each of ``names`` (parameter names of the unwrapped model).

    Raises:
        ConfigError: no source of layer ids applies, or one gives an id out of range.
    """
    if settings.layer_rules is not None:
        return rule_layer_ids(settings.layer_rules, names, settings.total)
    depth = model_depth_function(model)
    if depth is not None:
        if settings.decay_type == "stage_wise":
            raise ConfigError(
                "'stage_wise' picks a built-in ConvNeXt rule, but the model states its own layer ids "
                "(get_layer_depth); remove decay_type",
                key="paramwise_cfg.decay_type",
            )
        return {name: _checked_depth(depth, name, settings) for name in names}
    return family_layer_ids(model, names, settings)


def backbone_of(model: nn.Module) -> tuple[nn.Module, str]:
    """``model.backbone`` and the prefix of its parameter names, or the model itself and ''."""
    backbone = getattr(model, "backbone", None)
    return (backbone, BACKBONE) if isinstance(backbone, nn.Module) else (model, "")


def model_depth_function(model: nn.Module) -> DepthFunction | None:
    """MMPretrain's convention: the model's ``get_layer_depth`` on full names, else its backbone's
    on names with ``backbone.`` removed (other names: None, i.e. layer N - 1); None if neither has one."""
    own = getattr(model, "get_layer_depth", None)
    if callable(own):
        return cast(DepthFunction, own)
    backbone, prefix = backbone_of(model)
    method = getattr(backbone, "get_layer_depth", None)
    if not prefix or not callable(method):
        return None

    def depth(name: str) -> Any:
        return method(name[len(prefix) :]) if name.startswith(prefix) else None

    return depth


def depth_pair(result: Any, name: str) -> tuple[int, int]:
    """What a ``get_layer_depth(name)`` returned, checked: ``(layer_id, max_id)``, integers with
    ``0 <= layer_id < max_id``."""
    valid = (
        isinstance(result, tuple | list)
        and len(result) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in result)
        and 0 <= result[0] < result[1]
    )
    if not valid:
        raise ConfigError(
            f"the model's get_layer_depth({name!r}) returned {result!r}; expected (layer_id, max_id), "
            "integers with 0 <= layer_id < max_id"
        )
    return int(result[0]), int(result[1])


def _checked_depth(depth: DepthFunction, name: str, settings: LayerDecay) -> int:
    result = depth(name)
    if result is None:
        return settings.total - 1
    layer, max_id = depth_pair(result, name)
    if max_id != settings.total:
        raise ConfigError(
            f"the model's get_layer_depth counts {max_id} layer ids (num_layers = {max_id - 2}), "
            f"but num_layers = {settings.num_layers} makes {settings.total}",
            key="paramwise_cfg.num_layers",
        )
    return int(layer)


def family_layer_ids(model: nn.Module, names: Sequence[str], settings: LayerDecay) -> dict[str, int]:
    """Layer ids by the rule of the backbone's family; names outside the backbone are in N - 1."""
    backbone, prefix = backbone_of(model)
    decay_type = settings.decay_type or "layer_wise"
    family, factory = _family_rule(backbone, decay_type)
    rule = factory([name[len(prefix) :] for name in names if name.startswith(prefix)], settings.num_layers)
    ids: dict[str, int] = {}
    found_body = False
    for name in names:
        layer = rule(name[len(prefix) :]) if name.startswith(prefix) else None
        if layer is not None and layer > settings.num_layers:
            raise ConfigError(
                f"{name!r} is layer {layer} by the {family.name} {decay_type} rule, more than "
                f"num_layers = {settings.num_layers} (make num_layers at least {layer})",
                key="paramwise_cfg.num_layers",
            )
        found_body = found_body or bool(layer)  # a block, not the stem (0) nor the rest (None)
        ids[name] = settings.total - 1 if layer is None else layer
    if not found_body:
        raise ConfigError(
            f"the {family.name} rule finds no {family.body} among the parameters of backbone "
            f"{type(backbone).__name__!r}; {_ADD_RULES} or {_ADD_METHOD}",
            key="paramwise_cfg.decay_type",
        )
    return ids


def _family_rule(backbone: nn.Module, decay_type: str) -> tuple[Family, RuleFactory]:
    """The backbone's family and its rule for ``decay_type``."""
    label = type(backbone).__name__
    family = find_family(backbone)
    if family is None:
        raise ConfigError(
            f"{decay_type!r} has no rule for backbone class {label!r}; {_ADD_RULES}, {_ADD_METHOD}, "
            f"or use a backbone whose class name contains {', '.join(MARKERS[:-1])} or {MARKERS[-1]}",
            key="paramwise_cfg.decay_type",
        )
    factory = family.layer_wise if decay_type == "layer_wise" else family.stage_wise
    if factory is None:
        raise ConfigError(
            f"'stage_wise' applies to ConvNeXt backbones only, and {label!r} is a {family.name} "
            "(use 'layer_wise')",
            key="paramwise_cfg.decay_type",
        )
    return family, factory
