"""``paramwise_cfg.layer_rules``: layer ids stated in the config, for any architecture.

A rule is a table with a ``prefix`` and either a fixed ``layer`` or ``layer_from_index = true``
(the integer right after the prefix, plus ``offset``, divided by ``blocks_per_layer``)::

    layer_rules = [
      { prefix = "backbone.cls_token", layer = 0 },
      { prefix = "backbone.patch_embed", layer = 0 },
      { prefix = "backbone.blocks", layer_from_index = true, offset = 1 },
    ]

A prefix covers the parameter of that name and everything under it, at dotted boundaries
(``backbone.blocks`` covers ``backbone.blocks.3.attn.qkv.weight``, not ``backbone.blocks_norm.weight``);
the empty prefix covers every parameter. For each parameter the first rule that covers it
decides; a parameter no rule covers is in layer N - 1 (scale 1). Nothing is evaluated.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from customrun_core.errors import ConfigError, closest, describe

RULE_KEYS = ("prefix", "layer", "layer_from_index", "offset", "blocks_per_layer")
_EXAMPLE = '{ prefix = "backbone.layers", layer_from_index = true, offset = 1 }'


@dataclass(frozen=True)
class LayerRule:
    """One checked entry of ``layer_rules``.

    Attributes:
        index: the entry's position in the list (for messages).
        prefix: the parameter name, or the module path, the rule covers.
        layer: the fixed layer id, or None to take it from the index after the prefix.
        offset: added to ``index // blocks_per_layer``.
        blocks_per_layer: how many consecutive indices share one layer id.
    """

    index: int
    prefix: str
    layer: int | None = None
    offset: int = 0
    blocks_per_layer: int = 1

    @property
    def key(self) -> str:
        """The rule's key path, ``paramwise_cfg.layer_rules[i]``."""
        return f"paramwise_cfg.layer_rules[{self.index}]"

    @property
    def stem(self) -> str:
        return self.prefix.rstrip(".")

    def covers(self, name: str) -> bool:
        """Whether ``name`` is the prefix itself or under it (at a dot)."""
        return not self.stem or name == self.stem or name.startswith(self.stem + ".")

    def layer_of(self, name: str) -> int:
        """The layer id of a parameter this rule covers."""
        if self.layer is not None:
            return self.layer
        rest = name[len(self.stem) :].lstrip(".") if self.stem else name
        head = rest.split(".")[0]
        if not (head.isascii() and head.isdigit()):
            raise ConfigError(
                f"{name!r} has no block number after {self.stem!r} (layer_from_index needs names "
                f"such as {self.stem + '.' if self.stem else ''}3.weight)",
                key=f"{self.key}.prefix",
            )
        return self.offset + int(head) // self.blocks_per_layer


def parse_layer_rules(value: Any, total: int) -> tuple[LayerRule, ...]:
    """The rules of ``layer_rules``; fixed layer ids must lie in ``0 .. total - 1``."""
    if not isinstance(value, Sequence) or isinstance(value, str) or not value:
        raise ConfigError(
            f"expected a non-empty array of tables such as {_EXAMPLE}, got {describe(value)}",
            key="paramwise_cfg.layer_rules",
        )
    return tuple(_parse_rule(index, item, total) for index, item in enumerate(value))


def _parse_rule(index: int, item: Any, total: int) -> LayerRule:
    key = f"paramwise_cfg.layer_rules[{index}]"
    if not isinstance(item, Mapping):
        raise ConfigError(f"expected a table such as {_EXAMPLE}, got {describe(item)}", key=key)
    for name in item:
        if name not in RULE_KEYS:
            suggestions = closest(name, RULE_KEYS)
            hint = "" if suggestions else f" (valid keys: {', '.join(RULE_KEYS)})"
            raise ConfigError(f"unknown key{hint}", key=f"{key}.{name}", suggestions=suggestions)
    if "prefix" not in item:
        raise ConfigError("required key is missing", key=f"{key}.prefix")
    if not isinstance(item["prefix"], str):
        raise ConfigError(f"expected a string, got {describe(item['prefix'])}", key=f"{key}.prefix")
    from_index = item.get("layer_from_index", False)
    if not isinstance(from_index, bool):
        raise ConfigError(f"expected a boolean, got {describe(from_index)}", key=f"{key}.layer_from_index")
    if ("layer" in item) == from_index:
        raise ConfigError("needs exactly one of layer = <id> and layer_from_index = true", key=key)
    if "layer" in item:
        return _fixed_rule(index, item, total)
    offset = _integer(item.get("offset", 0), f"{key}.offset", minimum=None)
    per = _integer(item.get("blocks_per_layer", 1), f"{key}.blocks_per_layer", minimum=1)
    return LayerRule(index, item["prefix"], offset=offset, blocks_per_layer=per)


def _fixed_rule(index: int, item: Mapping[str, Any], total: int) -> LayerRule:
    key = f"paramwise_cfg.layer_rules[{index}]"
    for name in ("offset", "blocks_per_layer"):
        if name in item:
            raise ConfigError("applies only with layer_from_index = true", key=f"{key}.{name}")
    layer = item["layer"]
    if not isinstance(layer, int) or isinstance(layer, bool) or not 0 <= layer < total:
        raise ConfigError(
            f"expected a layer id from 0 to {total - 1} (num_layers + 1), got {describe(layer)}",
            key=f"{key}.layer",
        )
    return LayerRule(index, item["prefix"], layer=layer)


def _integer(value: Any, key: str, minimum: int | None) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or (minimum is not None and value < minimum):
        expected = "an integer" if minimum is None else f"an integer >= {minimum}"
        raise ConfigError(f"expected {expected}, got {describe(value)}", key=key)
    return value


def rule_layer_ids(rules: Sequence[LayerRule], names: Sequence[str], total: int) -> dict[str, int]:
    """Each name's layer id by the first rule that covers it (N - 1 when none does); warns about
    rules that cover no parameter.

    Raises:
        ConfigError: a rule gives a layer id outside ``0 .. total - 1``, or a ``layer_from_index``
            rule covers a name with no integer after its prefix.
    """
    ids: dict[str, int] = {}
    used: set[int] = set()
    for name in names:
        rule = next((r for r in rules if r.covers(name)), None)
        if rule is None:
            ids[name] = total - 1
            continue
        used.add(rule.index)
        layer = rule.layer_of(name)
        if not 0 <= layer < total:
            raise ConfigError(
                f"gives {name!r} layer {layer}, outside 0 to {total - 1} (num_layers + 1)", key=rule.key
            )
        ids[name] = layer
    for rule in rules:
        if rule.index not in used:
            _warn_unused(rule, names)
    return ids


def _warn_unused(rule: LayerRule, names: Sequence[str]) -> None:
    why = (
        f"an earlier rule takes every parameter under {rule.prefix!r}"
        if any(rule.covers(n) for n in names)
        else f"no parameter is named {rule.prefix!r} or under it"
    )
    warnings.warn(f"optim_wrapper.{rule.key}: sets no parameter: {why}", stacklevel=3)
