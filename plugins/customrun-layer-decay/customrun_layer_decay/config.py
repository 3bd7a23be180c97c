"""The layer-decay keys of ``paramwise_cfg``, checked once, when the constructor is created.

Every mistake is a one-line :class:`ConfigError` whose key path is relative to the
``optim_wrapper`` table (``paramwise_cfg.decay_rate``); customrun prefixes the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from customrun_core.errors import ConfigError, closest, describe
from customrun_core.optim import custom_key_path

from customrun_layer_decay.rules import LayerRule, parse_layer_rules

DECAY_TYPES = ("layer_wise", "stage_wise")
PARAMWISE_KEYS = ("decay_rate", "decay_type", "num_layers", "layer_rules", "custom_keys", "bypass_duplicate")
# The default constructor's own rules, which the one no-decay rule of this constructor replaces.
DEFAULT_RULE_KEYS = (
    "bias_lr_mult",
    "norm_decay_mult",
    "bias_decay_mult",
    "dwconv_decay_mult",
    "flat_decay_mult",
)
# Group entries this constructor computes, so a custom key may not set them.
COMPUTED_ENTRIES = ("lr", "weight_decay", "lr_scale", "layer_id")


@dataclass(frozen=True)
class LayerDecay:
    """The checked layer-decay settings of one ``paramwise_cfg``.

    Attributes:
        decay_rate: the factor between neighbouring layers, in (0, 1].
        num_layers: the layers between the stem (layer 0) and what follows them (layer N - 1).
        decay_type: ``"layer_wise"``, ``"stage_wise"``, or None when the config leaves it to the
            default (``"layer_wise"``).
        layer_rules: the config's own layer rules, or None when the model or its family decides.
    """

    decay_rate: float
    num_layers: int
    decay_type: str | None = None
    layer_rules: tuple[LayerRule, ...] | None = None

    @property
    def total(self) -> int:
        """N = num_layers + 2: layer ids run from 0 (the stem) to N - 1 (heads, scale 1)."""
        return self.num_layers + 2

    def scale(self, layer_id: int) -> float:
        """``decay_rate ** (N - layer_id - 1)``, the factor of the optimizer's lr for that layer."""
        return float(self.decay_rate ** (self.total - layer_id - 1))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def refuse_default_rules(cfg: Any) -> None:
    """Refuse the default constructor's multipliers, which the fixed no-decay rule replaces."""
    if not isinstance(cfg, Mapping):
        return  # the default constructor's check says what it should be
    for name in DEFAULT_RULE_KEYS:
        if name in cfg:
            raise ConfigError(
                "not a layer-decay setting: weight decay is 0 for 1-D tensors, biases, tokens and "
                "position embeddings and the optimizer's elsewhere; change it with "
                "custom_keys (lr_mult, decay_mult)",
                key=f"paramwise_cfg.{name}",
            )


def parse_layer_decay(
    cfg: Mapping[str, Any], base_lr: float | None, rate_key: str = "decay_rate"
) -> LayerDecay:
    """The settings of ``cfg`` (already checked by the default constructor for unknown keys and
    ``custom_keys``), or a one-line :class:`ConfigError`; ``rate_key`` names the decay rate
    (``layer_decay_rate`` in MMSegmentation's deprecated constructor)."""
    if rate_key not in cfg:
        raise ConfigError("required key is missing", key=f"paramwise_cfg.{rate_key}")
    rate = decay_rate(cfg[rate_key], base_lr, rate_key)
    num_layers = _num_layers(cfg)
    decay_type = _decay_type(cfg)
    rules = None
    if "layer_rules" in cfg:
        if decay_type == "stage_wise":
            raise ConfigError(
                "'stage_wise' picks a built-in ConvNeXt rule, but layer_rules give the layer ids "
                "here (remove decay_type)",
                key="paramwise_cfg.decay_type",
            )
        rules = parse_layer_rules(cfg["layer_rules"], num_layers + 2)
    _check_custom_entries(cfg.get("custom_keys", {}))
    return LayerDecay(rate, num_layers, decay_type, rules)


def decay_rate(rate: Any, base_lr: float | None, name: str) -> float:
    """``paramwise_cfg.<name>`` checked: a number in (0, 1], with an optimizer ``lr`` to scale."""
    key = f"paramwise_cfg.{name}"
    if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 < rate <= 1:
        raise ConfigError(f"expected a number in (0, 1], got {describe(rate)}", key=key)
    if base_lr is None:
        raise ConfigError(
            "scales the optimizer's lr, which is not set (add lr to optim_wrapper.optimizer)", key=key
        )
    return float(rate)


def _num_layers(cfg: Mapping[str, Any]) -> int:
    key = "paramwise_cfg.num_layers"
    if "num_layers" not in cfg:
        raise ConfigError("required key is missing", key=key)
    num_layers = cfg["num_layers"]
    if not _is_int(num_layers) or num_layers < 1:
        raise ConfigError(f"expected a positive integer, got {describe(num_layers)}", key=key)
    return int(num_layers)


def _decay_type(cfg: Mapping[str, Any]) -> str | None:
    if "decay_type" not in cfg:
        return None
    value = cfg["decay_type"]
    if not isinstance(value, str) or value not in DECAY_TYPES:
        shown = repr(value) if isinstance(value, str) else describe(value)
        raise ConfigError(
            f"unknown decay type {shown} (expected 'layer_wise' or 'stage_wise')",
            key="paramwise_cfg.decay_type",
            suggestions=closest(value, DECAY_TYPES, n=1) if isinstance(value, str) else (),
        )
    return value


def _check_custom_entries(custom_keys: Mapping[str, Mapping[str, Any]]) -> None:
    for key, entry in custom_keys.items():
        for name in COMPUTED_ENTRIES:
            if name in entry:
                raise ConfigError(
                    "cannot be set per key (the constructor computes it from the layer, lr_mult "
                    "and decay_mult)",
                    key=custom_key_path(key, name),
                )
