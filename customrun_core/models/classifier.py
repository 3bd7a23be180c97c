"""Any backbone ``nn.Module`` (MLP, your own, torchvision, timm) with a loss: a classifier or a regressor."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from customrun_core.build import build, call_checked, check_arguments, split_type
from customrun_core.errors import ConfigError, closest
from customrun_core.import_paths import import_component
from customrun_core.models.base import BaseModel


def build_loss(cfg: Any, key: str = "loss") -> nn.Module:
    """A loss module: a ``torch.nn`` class by name (``{type = "CrossEntropyLoss", label_smoothing =
    0.1}``, or just ``"MSELoss"``), or any ``nn.Module`` class by import path (``"torch.nn:MSELoss"``,
    ``"my_losses:FocalLoss"``, dotted too). Anything but an ``nn.Module`` class is refused: a config
    names components, it never calls arbitrary code."""
    if isinstance(cfg, nn.Module):
        return cfg
    type_name, kwargs = split_type(cfg, key)
    if hasattr(nn, type_name):
        target = getattr(nn, type_name)
    elif ":" in type_name or "." in type_name:
        target = import_component(type_name, "models", "loss")
    else:
        losses = [n for n in dir(nn) if n.endswith("Loss")]
        raise ConfigError(
            f"unknown loss {type_name!r}", key=f"{key}.type", suggestions=closest(type_name, losses)
        )
    check_arguments(target, kwargs, {}, key)
    return call_checked(target, kwargs, key)


class SupervisedModel(BaseModel):
    """``backbone(inputs)`` gives the outputs; ``loss(outputs, targets)`` trains them.

    Args:
        backbone: a model table (``{type = "MLP", ...}``, ``{type = "my_model:Net"}``,
            ``{type = "torchvision.models:resnet18", num_classes = 10}``: the model functions of
            torchvision and timm are the factories an import path may name) or an ``nn.Module``.
        loss: a loss table or name (see :func:`build_loss`).
    """

    default_loss = "MSELoss"

    def __init__(
        self, backbone: dict[str, Any] | nn.Module, loss: dict[str, Any] | str | None = None
    ) -> None:
        super().__init__()
        self.backbone = (
            backbone if isinstance(backbone, nn.Module) else build("models", backbone, key="backbone")
        )
        self.loss = build_loss(self.default_loss if loss is None else loss)

    def forward(self, inputs: torch.Tensor, targets: torch.Tensor | None = None, mode: str = "loss") -> Any:
        outputs = self.backbone(inputs)
        if mode == "predict":
            return outputs
        if mode == "loss":
            return {"loss": self.loss(self.fit(outputs, targets), targets)}
        raise ValueError(f"mode must be 'loss' or 'predict', got {mode!r}")

    def fit(self, outputs: torch.Tensor, targets: Any) -> torch.Tensor:
        """The outputs as the loss compares them with ``targets``."""
        return outputs


class ClassifierModel(SupervisedModel):
    """``backbone(inputs)`` gives logits; the loss (cross-entropy by default) compares them with
    integer class targets. Predictions are the logits."""

    default_loss = "CrossEntropyLoss"


class RegressorModel(SupervisedModel):
    """``backbone(inputs)`` gives values; the loss (mean squared error by default) compares them with
    float targets. An output of shape ``(B, 1)`` meets targets of shape ``(B,)`` as ``(B,)``, so a
    backbone ending in ``Linear(n, 1)`` trains on a plain column of targets."""

    default_loss = "MSELoss"

    def fit(self, outputs: torch.Tensor, targets: Any) -> torch.Tensor:
        if isinstance(targets, torch.Tensor) and outputs.ndim == targets.ndim + 1 and outputs.shape[-1] == 1:
            return outputs.squeeze(-1)
        return outputs
