"""Small models with the parameter names the seeds' configs match on, for the digits data.

``TinyViT`` has ``cls_token``, ``mask_token``, ``pos_embed``, ``patch_embed`` and ``ln`` layers
(MAE's custom_keys); ``TinyResNet`` has ``bn`` layers and a ``downsample`` whose index 1 is a
BatchNorm (SimCLR's custom_keys). Both read 64-float digit images and return 10 logits.
"""

from __future__ import annotations

import torch
from torch import nn

from customrun_core import register


class Block(nn.Module):
    """A pre-norm transformer block."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, num_heads=2, batch_first=True)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.ln1(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.ln2(x))


@register("models")
class TinyViT(nn.Module):
    """Four 4x4 patches of an 8x8 digit, a class token and ``depth`` blocks."""

    def __init__(self, dim: int = 32, depth: int = 2, num_classes: int = 10) -> None:
        super().__init__()
        self.patch_embed = nn.Linear(16, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, 5, dim) * 0.02)
        self.layers = nn.ModuleList(Block(dim) for _ in range(depth))
        self.ln = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        images = inputs.view(-1, 2, 4, 2, 4).permute(0, 1, 3, 2, 4).reshape(-1, 4, 16)
        x = self.patch_embed(images)
        x = torch.cat([self.cls_token.expand(len(x), -1, -1), x], dim=1) + self.pos_embed
        for layer in self.layers:
            x = layer(x)
        return self.head(self.ln(x[:, 0]))


class BasicBlock(nn.Module):
    """ResNet's basic block; ``downsample`` = (1x1 conv, BatchNorm) when the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            if stride != 1 or cin != cout
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + identity)


@register("models")
class TinyResNet(nn.Module):
    """A stem and two basic blocks on 1x8x8 digit images."""

    def __init__(self, width: int = 16, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.layer1 = BasicBlock(width, width, 1)
        self.layer2 = BasicBlock(width, 2 * width, 2)
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(inputs.view(-1, 1, 8, 8))))
        x = self.layer2(self.layer1(x))
        return self.fc(x.mean(dim=(2, 3)))
