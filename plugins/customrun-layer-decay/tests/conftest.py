"""Small hand-built models named like the real families, and helpers to read their groups.

The backbones' own class names are neutral (``TokenBackbone``, ...): a test names the family by
subclassing, ``named(TokenBackbone, "MAE")``, so that only the name it gives selects the rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

DIM = 4
REPOSITORY = Path(__file__).resolve().parents[3]
SEED = REPOSITORY / "examples" / "seeds" / "layer_decay.toml"


class TokenBackbone(nn.Module):
    """ViT/BEiT/MAE layout: cls_token, pos_embed, patch_embed, layers.i (ln, fc), final ln."""

    def __init__(self, depth: int = 2) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, DIM))
        self.pos_embed = nn.Parameter(torch.zeros(1, 3, DIM))
        self.patch_embed = nn.Linear(6, DIM)
        self.layers = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(DIM), nn.Linear(DIM, DIM)) for _ in range(depth)
        )
        self.ln = nn.LayerNorm(DIM)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patch_embed(x.view(-1, 2, 6))
        x = torch.cat([self.cls_token.expand(len(tokens), -1, -1), tokens], dim=1) + self.pos_embed
        for layer in self.layers:
            x = x + layer(x)
        return self.ln(x[:, 0])


class StageBackbone(nn.Module):
    """ConvNeXt layout: downsample_layers.i and stages.i.j (depths [1, 1, 4, 1]), then a norm."""

    def __init__(self, depths: tuple[int, ...] = (1, 1, 4, 1)) -> None:
        super().__init__()
        self.downsample_layers = nn.ModuleList(nn.Conv2d(DIM, DIM, 1) for _ in depths)
        self.stages = nn.ModuleList(
            nn.Sequential(*(nn.Conv2d(DIM, DIM, 3, padding=1, groups=DIM) for _ in range(n))) for n in depths
        )
        self.norm = nn.LayerNorm(DIM)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.view(-1, DIM, 1, 3)
        for downsample, stage in zip(self.downsample_layers, self.stages, strict=True):
            x = stage(downsample(x))
        return self.norm(x.mean(dim=(2, 3)))


class SwinStage(nn.Module):
    """blocks.b, and a patch merging ``downsample`` (reduction, norm) unless it is the last stage."""

    def __init__(self, depth: int, downsample: bool) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(nn.Linear(DIM, DIM) for _ in range(depth))
        self.downsample = (
            nn.ModuleDict({"reduction": nn.Linear(DIM, DIM, bias=False), "norm": nn.LayerNorm(DIM)})
            if downsample
            else None
        )


class WindowBackbone(nn.Module):
    """Swin layout: patch_embed, absolute_pos_embed, stages.s.blocks.b (depths [2, 3]),
    stages.0.downsample.reduction/norm, then a norm."""

    def __init__(self) -> None:
        super().__init__()
        self.patch_embed = nn.Linear(6, DIM)
        self.absolute_pos_embed = nn.Parameter(torch.zeros(1, 2, DIM))
        self.stages = nn.ModuleList([SwinStage(2, downsample=True), SwinStage(3, downsample=False)])
        self.norm = nn.LayerNorm(DIM)


class Mixer(nn.Module):
    """A model that states its own layer ids, MMPretrain's way: stem 0, blocks.i i + 1, head N - 1."""

    def __init__(self, depth: int = 3) -> None:
        super().__init__()
        self.stem = nn.Linear(6, DIM)
        self.blocks = nn.ModuleList(nn.Linear(DIM, DIM) for _ in range(depth))
        self.head = nn.Linear(DIM, 3)

    def get_layer_depth(self, name: str) -> tuple[int, int]:
        total = len(self.blocks) + 2
        if name.startswith("stem."):
            return 0, total
        if name.startswith("blocks."):
            return int(name.split(".")[1]) + 1, total
        return total - 1, total


class Classifier(nn.Module):
    """``backbone`` and a ``head`` Linear, as MMPretrain's ImageClassifier names them."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(DIM, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def named(base: type[nn.Module], name: str) -> type[nn.Module]:
    """A subclass of ``base`` called ``name`` (the family is chosen by class name)."""
    return type(name, (base,), {})


def build(
    model: nn.Module,
    paramwise_cfg: dict[str, Any] | None,
    optimizer: dict[str, Any] | None = None,
    constructor: str = "LearningRateDecayOptimizerConstructor",
) -> Any:
    """The optimizer the constructor (found by its entry point) builds for ``model``."""
    from customrun_core.optim import build_optim_wrapper

    cfg: dict[str, Any] = {
        "constructor": constructor,
        "optimizer": optimizer or {"type": "AdamW", "lr": 4e-3, "weight_decay": 0.05},
    }
    if paramwise_cfg is not None:
        cfg["paramwise_cfg"] = paramwise_cfg
    return build_optim_wrapper(model, cfg).optimizer


def groups_by_name(optimizer: torch.optim.Optimizer, model: nn.Module) -> dict[str, dict[str, Any]]:
    """Parameter name -> its (one-parameter) group, in the optimizer's order."""
    names = {id(p): n for n, p in model.named_parameters()}
    result = {}
    for group in optimizer.param_groups:
        (param,) = group["params"]
        result[names[id(param)]] = group
    return result


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs in its own directory, so default work_dirs never collide."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def _forget_seed_models() -> Any:
    """The seed example imports ``seed_models`` by that common name; leave no trace of it."""
    import sys

    yield
    sys.modules.pop("seed_models", None)


@pytest.fixture
def models() -> Any:
    """This module's models and helpers (the tests folder is not a package)."""
    import sys

    return sys.modules[__name__]
