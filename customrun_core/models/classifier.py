"""A classifier around any backbone ``nn.Module`` (MLP, torchvision, timm) with a loss."""

from __future__ import annotations

import importlib
from typing import Any

import torch
from torch import nn

from customrun_core.build import build, call_checked, check_arguments, split_type
from customrun_core.errors import ConfigError, closest
from customrun_core.models.base import BaseModel


def build_loss(cfg: Any, key: str = "loss") -> nn.Module:
    """A ``torch.nn`` loss by class name (``{type = "CrossEntropyLoss", label_smoothing = 0.1}``)
    or by import path."""
    if isinstance(cfg, nn.Module):
        return cfg
    type_name, kwargs = split_type(cfg, key)
    if hasattr(nn, type_name):
        target = getattr(nn, type_name)
    elif ":" in type_name:
        module, _, attr = type_name.partition(":")
        target = getattr(importlib.import_module(module), attr)
    else:
        losses = [n for n in dir(nn) if n.endswith("Loss")]
        raise ConfigError(
            f"unknown loss {type_name!r}", key=f"{key}.type", suggestions=closest(type_name, losses)
        )
    check_arguments(target, kwargs, {}, key)
    return call_checked(target, kwargs, key)


class ClassifierModel(BaseModel):
    """``backbone(inputs)`` gives logits; the loss compares them with integer class targets.

    Args:
        backbone: a model table (``{type = "MLP", ...}``, ``{type = "torchvision.models:resnet18"}``)
            or an ``nn.Module``.
        loss: a ``torch.nn`` loss table or name; cross-entropy by default.
    """

    def __init__(
        self, backbone: dict[str, Any] | nn.Module, loss: dict[str, Any] | str = "CrossEntropyLoss"
    ) -> None:
        super().__init__()
        self.backbone = (
            backbone if isinstance(backbone, nn.Module) else build("models", backbone, key="backbone")
        )
        self.loss = build_loss(loss)

    def forward(self, inputs: torch.Tensor, targets: torch.Tensor | None = None, mode: str = "loss") -> Any:
        logits = self.backbone(inputs)
        if mode == "predict":
            return logits
        if mode == "loss":
            return {"loss": self.loss(logits, targets)}
        raise ValueError(f"mode must be 'loss' or 'predict', got {mode!r}")
