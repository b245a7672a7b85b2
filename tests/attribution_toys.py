"""Tiny analytic models for the attribution tests, whose right answers are known by construction."""
from __future__ import annotations

import torch
from torch import nn

REGION = (slice(4, 10), slice(20, 26))  # rows, cols of the only pixels RegionNet looks at


def region_mask(size: int = 32) -> torch.Tensor:
    mask = torch.zeros(1, 1, size, size, dtype=torch.bool)
    mask[..., REGION[0], REGION[1]] = True
    return mask


class RegionNet(nn.Module):
    """Logits (a, 0) with a = k (mean brightness of REGION - 1/2): class 0 iff the region is bright."""

    def __init__(self, k: float = 20.0, size: int = 32):
        super().__init__()
        self.gray = nn.Conv2d(3, 1, 1, bias=False)  # channel mean, a spatial layer to tap
        nn.init.constant_(self.gray.weight, 1 / 3)
        self.relu = nn.ReLU()
        self.register_buffer("weight", region_mask(size).float() / region_mask(size).sum())
        self.k = k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.k * ((self.relu(self.gray(x)) * self.weight).sum(dim=(1, 2, 3)) - 0.5)  # (B,)
        return torch.stack([a, torch.zeros_like(a)], dim=1)


def region_images(n: int = 4, size: int = 32, seed: int = 0) -> torch.Tensor:
    """Dim noise (< 0.3) with a bright REGION: RegionNet predicts class 0 with P > 0.99."""
    x = torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 0.3
    x[..., REGION[0], REGION[1]] = 1.0
    return x


def conv_net(seed: int = 0, classes: int = 5, head: str = "flatten") -> nn.Sequential:
    """A random conv net for 16x16 inputs: conv-ReLU-conv(stride 2)-ReLU (layer "0.3", 8x8) then a dense or GAP head."""
    torch.manual_seed(seed)
    features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2, padding=1),
                             nn.ReLU())
    pool = nn.Flatten() if head == "flatten" else nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
    width = 8 * 8 * 8 if head == "flatten" else 8
    return nn.Sequential(nn.Sequential(*features), pool, nn.Linear(width, classes)).eval()


class Bomb(nn.Module):
    """Raises in forward: for proving that hooks are removed when the forward fails."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("boom")
