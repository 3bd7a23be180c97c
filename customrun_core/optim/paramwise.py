"""MMEngine's ``paramwise_cfg``: per-parameter lr and weight decay, one parameter group per parameter.

The rules, the order in which parameters are visited and the order in which custom keys are
tried are MMEngine's ``DefaultOptimWrapperConstructor``'s; docs/optimizers.md states them. Where
MMEngine fails late or silently (a multiplier with nothing to multiply, a shared parameter, a
custom key that matches nothing) customrun says so at build time, in one line that names the key.
"""

from __future__ import annotations

import inspect
import logging
import re
import warnings
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from customrun_core.config import types
from customrun_core.errors import ConfigError, closest, describe

logger = logging.getLogger(__name__)

# The multipliers of the rules below, in MMEngine's order of the weight-decay branches.
DECAY_MULTS = ("norm_decay_mult", "bias_decay_mult", "dwconv_decay_mult", "flat_decay_mult")
PARAMWISE_KEYS = ("bias_lr_mult", *DECAY_MULTS, "bypass_duplicate", "custom_keys")
NORM_LAYERS = (
    nn.modules.batchnorm._BatchNorm,
    nn.modules.instancenorm._InstanceNorm,
    nn.GroupNorm,
    nn.LayerNorm,
)
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_FROZEN_NAMES_SHOWN = 5


@dataclass
class ParamGroups:
    """What a constructor gives the optimizer, and what the rules noticed on the way.

    Attributes:
        groups: the parameter groups, in the order the optimizer receives them.
        unmatched_custom_keys: the ``custom_keys`` that set no parameter, in config order.
        frozen: names of the parameters left out because ``requires_grad`` is false.
    """

    groups: list[dict[str, Any]]
    unmatched_custom_keys: list[str] = field(default_factory=list)
    frozen: list[str] = field(default_factory=list)


def custom_key_path(key: str, *rest: str) -> str:
    """``paramwise_cfg.custom_keys.<key>...``, with a key that is not a bare TOML key quoted."""
    shown = key if _BARE_KEY.fullmatch(key) else '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return ".".join(("paramwise_cfg.custom_keys", shown, *rest))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_number(value: Any, key: str) -> None:
    if not _is_number(value):
        raise ConfigError(f"expected a number, got {describe(value)}", key=key)


def _check_base(value: Any, name: str, key: str) -> None:
    if value is None:
        raise ConfigError(
            f"multiplies the optimizer's {name}, which is not set (add {name} to optim_wrapper.optimizer)",
            key=key,
        )


def check_paramwise_cfg(
    cfg: Any,
    base_lr: float | None,
    base_wd: float | None,
    known: Collection[str] = PARAMWISE_KEYS,
    group_keys: Mapping[str, Any] | None = None,
) -> None:
    """Raise a one-line :class:`ConfigError` (key path under ``paramwise_cfg``) for any mistake.

    Args:
        cfg: the ``paramwise_cfg`` table.
        base_lr: the optimizer table's ``lr``, None when it sets none.
        base_wd: the optimizer table's ``weight_decay``, None when it sets none.
        known: the keys the constructor understands (subclasses add theirs).
        group_keys: what the optimizer reads from a parameter group besides ``params``, with its
            type (None: not checked), from :func:`optimizer_group_keys`. A custom key's other
            entries are copied into its groups (MMEngine's rule); one that looks like a misspelling
            of these or of ``lr_mult``/``decay_mult`` is refused, and the optimizer's own flags
            are type-checked.
    """
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"expected a table, got {describe(cfg)}", key="paramwise_cfg")
    for base, name in ((base_lr, "lr"), (base_wd, "weight_decay")):
        if base is not None:
            _check_number(base, f"optimizer.{name}")
    for name in cfg:
        if name not in known:
            suggestions = closest(name, known)
            hint = "" if suggestions else f" (valid keys: {', '.join(known)})"
            raise ConfigError(f"unknown key{hint}", key=f"paramwise_cfg.{name}", suggestions=suggestions)
    for name in ("bias_lr_mult", *DECAY_MULTS):
        if name in cfg:
            _check_number(cfg[name], f"paramwise_cfg.{name}")
            base, base_name = (base_lr, "lr") if name == "bias_lr_mult" else (base_wd, "weight_decay")
            _check_base(base, base_name, f"paramwise_cfg.{name}")
    if "bypass_duplicate" in cfg and not isinstance(cfg["bypass_duplicate"], bool):
        raise ConfigError(
            f"expected a boolean, got {describe(cfg['bypass_duplicate'])}",
            key="paramwise_cfg.bypass_duplicate",
        )
    if "custom_keys" in cfg:
        _check_custom_keys(cfg["custom_keys"], base_lr, base_wd, group_keys or {})


def optimizer_group_keys(optimizer_cls: Any) -> dict[str, Any]:
    """The keys an optimizer class reads from a parameter group: its arguments after the first
    (untyped here: the optimizer table's values are checked against them), and the flags it
    declares in ``param_group_flags`` (``{"lars_exclude": bool}``) with their types."""
    try:
        names = list(inspect.signature(optimizer_cls).parameters)[1:]
    except (TypeError, ValueError):
        names = []
    return {**dict.fromkeys(names), **getattr(optimizer_cls, "param_group_flags", {})}


def _check_custom_keys(
    custom_keys: Any, base_lr: float | None, base_wd: float | None, group_keys: Mapping[str, Any]
) -> None:
    if not isinstance(custom_keys, Mapping):
        raise ConfigError(
            f"expected a table of name -> settings, got {describe(custom_keys)}",
            key="paramwise_cfg.custom_keys",
        )
    for key, entry in custom_keys.items():
        if not isinstance(entry, Mapping):
            raise ConfigError(
                f"expected a table such as {{ decay_mult = 0.0 }}, got {describe(entry)}",
                key=custom_key_path(key),
            )
        if "params" in entry:
            raise ConfigError(
                "cannot be set per key (the constructor fills it)", key=custom_key_path(key, "params")
            )
        for name, base, base_name in (("lr_mult", base_lr, "lr"), ("decay_mult", base_wd, "weight_decay")):
            if name in entry:
                _check_number(entry[name], custom_key_path(key, name))
                _check_base(base, base_name, custom_key_path(key, name))
        _check_group_entries(key, entry, group_keys)


def _check_group_entries(key: str, entry: Mapping[str, Any], group_keys: Mapping[str, Any]) -> None:
    """The entries of a custom key that go into its groups as they are: the optimizer's flags have
    their type; an unknown one that is close to a known name is taken for its misspelling."""
    known = ["lr_mult", "decay_mult", *group_keys]
    for name, value in entry.items():
        if name in known:
            problem = types.check(value, group_keys[name]) if group_keys.get(name) is not None else None
            if problem:
                raise ConfigError(problem, key=custom_key_path(key, name))
        elif closest(name, known):
            raise ConfigError(
                "unknown key: neither the constructor nor the optimizer reads it",
                key=custom_key_path(key, name),
                suggestions=closest(name, known),
            )


def sort_custom_keys(keys: Collection[str]) -> list[str]:
    """MMEngine's trial order: alphabetical, then stable by length, longest first."""
    return sorted(sorted(keys), key=len, reverse=True)


def match_custom_key(name: str, sorted_keys: list[str]) -> str | None:
    """The first key of ``sorted_keys`` contained in the parameter's name, or None.

    A root-level parameter (``cls_token``) is matched as ``.cls_token``, the string MMEngine
    matches, so that a key ``.cls_token`` means "a parameter named cls_token at any depth".
    """
    target = name if "." in name else "." + name
    return next((key for key in sorted_keys if key in target), None)


def is_depthwise(module: nn.Module) -> bool:
    """A Conv2d whose every input channel is its own group (one input channel is not enough)."""
    return isinstance(module, nn.Conv2d) and module.groups > 1 and module.in_channels == module.groups


def iter_parameters(model: nn.Module) -> Iterator[tuple[str, nn.Module, str, nn.Parameter]]:
    """``(full name, owning module, own name, parameter)`` depth first, a module's own parameters
    before its children's, shared parameters and modules at every place they appear."""
    for prefix, module in model.named_modules(remove_duplicate=False):
        for name, param in module.named_parameters(recurse=False, remove_duplicate=False):
            yield (f"{prefix}.{name}" if prefix else name), module, name, param


class ParamwiseRules:
    """The rules of one checked ``paramwise_cfg``, applied one parameter at a time."""

    def __init__(self, cfg: Mapping[str, Any], base_lr: float | None, base_wd: float | None) -> None:
        self.cfg = cfg
        self.base_lr = base_lr
        self.base_wd = base_wd
        self.custom_keys: Mapping[str, Mapping[str, Any]] = cfg.get("custom_keys", {})
        self.sorted_keys = sort_custom_keys(self.custom_keys)

    def group(
        self, name: str, module: nn.Module, own_name: str, param: nn.Parameter
    ) -> tuple[dict[str, Any], str | None]:
        """The parameter's group, and the custom key that made it (None when the rules did)."""
        key = match_custom_key(name, self.sorted_keys)
        if key is not None:
            return self.custom_group(key, param), key
        return self.rule_group(module, own_name, param), None

    def custom_group(self, key: str, param: nn.Parameter) -> dict[str, Any]:
        """lr and weight decay from the key's multipliers, then every entry of the key verbatim."""
        entry = self.custom_keys[key]
        group: dict[str, Any] = {"params": [param]}
        if self.base_lr is not None:  # MMEngine always writes lr; without one it cannot
            group["lr"] = self.base_lr * entry.get("lr_mult", 1.0)
        if self.base_wd is not None:
            group["weight_decay"] = self.base_wd * entry.get("decay_mult", 1.0)
        group.update(entry)
        return group

    def rule_group(self, module: nn.Module, own_name: str, param: nn.Parameter) -> dict[str, Any]:
        """bias_lr_mult, then the first weight-decay branch that applies and is configured."""
        group: dict[str, Any] = {"params": [param]}
        is_norm = isinstance(module, NORM_LAYERS)
        bias_lr_mult = self.cfg.get("bias_lr_mult")
        if own_name == "bias" and not is_norm and bias_lr_mult is not None and self.base_lr is not None:
            group["lr"] = self.base_lr * bias_lr_mult
        branches = (is_norm, own_name == "bias", is_depthwise(module), param.ndim == 1)
        mult = next(
            (self.cfg[k] for k, hit in zip(DECAY_MULTS, branches, strict=True) if hit and k in self.cfg), None
        )
        if mult is not None and self.base_wd is not None:
            group["weight_decay"] = self.base_wd * mult
        return group


def build_param_groups(
    model: nn.Module, cfg: Mapping[str, Any], base_lr: float | None, base_wd: float | None
) -> ParamGroups:
    """One group per trainable parameter, by the rules of ``cfg`` (checked already).

    Raises:
        ConfigError: a parameter is shared and ``bypass_duplicate`` is not set.
    """
    rules = ParamwiseRules(cfg, base_lr, base_wd)
    result = ParamGroups(groups=[])
    first_name: dict[int, str] = {}
    chosen: list[tuple[str, str | None]] = []
    for name, module, own_name, param in iter_parameters(model):
        if not param.requires_grad:
            if id(param) not in first_name:
                result.frozen.append(name)
                first_name[id(param)] = name
            continue
        if id(param) in first_name:
            _duplicate(name, first_name[id(param)], bool(cfg.get("bypass_duplicate", False)))
            continue
        first_name[id(param)] = name
        group, key = rules.group(name, module, own_name, param)
        result.groups.append(group)
        chosen.append((name, key))
    result.unmatched_custom_keys = _unmatched(rules, chosen)
    _report_frozen(result.frozen)
    return result


def _duplicate(name: str, first: str, bypass: bool) -> None:
    if not bypass:
        raise ConfigError(
            f"{name!r} is the same parameter as {first!r}, and one parameter cannot be in two groups "
            "(set paramwise_cfg.bypass_duplicate = true to keep only the first)",
            key="paramwise_cfg",
        )
    warnings.warn(
        f"optim_wrapper.paramwise_cfg: {name!r} is the same parameter as {first!r}; "
        "skipped (bypass_duplicate = true)",
        stacklevel=2,
    )


def _unmatched(rules: ParamwiseRules, chosen: list[tuple[str, str | None]]) -> list[str]:
    """The custom keys that set no parameter, each with a warning that says why."""
    used = {key for _, key in chosen}
    unmatched = [key for key in rules.custom_keys if key not in used]
    for key in unmatched:
        shadowed = next(((n, k) for n, k in chosen if match_custom_key(n, [key])), None)
        why = (
            f"every parameter it matches takes a longer key (e.g. {shadowed[0]!r} takes {shadowed[1]!r})"
            if shadowed
            else "no trainable parameter's name contains it"
        )
        warnings.warn(f"optim_wrapper.{custom_key_path(key)}: sets no parameter: {why}", stacklevel=2)
    return unmatched


def _report_frozen(frozen: list[str]) -> None:
    if not frozen:
        return
    shown = ", ".join(frozen[:_FROZEN_NAMES_SHOWN])
    more = f" and {len(frozen) - _FROZEN_NAMES_SHOWN} more" if len(frozen) > _FROZEN_NAMES_SHOWN else ""
    logger.warning(
        "optim_wrapper.paramwise_cfg: %d parameter(s) with requires_grad = False left out of the optimizer: %s%s",
        len(frozen),
        shown,
        more,
    )
