"""Which train loop a ``train_cfg`` table names (MMEngine's rule)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from customrun_core.errors import ConfigError


def train_loop_table(cfg: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """MMEngine's rule: without ``type``, ``by_epoch`` (default true) picks the epoch or iteration loop."""
    cfg = dict(cfg)
    if "type" in cfg and "by_epoch" in cfg:
        raise ConfigError("give either type or by_epoch, not both", key="by_epoch")
    by_epoch = cfg.pop("by_epoch", True)
    return cfg, "EpochBasedTrainLoop" if by_epoch else "IterBasedTrainLoop"
