"""The toolkit's own small CNNs: fast on a CPU, with named layers to tap."""
from __future__ import annotations

import torch
from torch import nn


def conv_block(c_in: int, c_out: int) -> nn.Sequential:
    """conv 3x3 -> batch norm -> ReLU -> 2x2 max pool (halves the resolution)."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=False), nn.MaxPool2d(2))


class TinyCNN(nn.Module):
    """block1..blockN (conv blocks) -> pool -> penultimate (Linear+ReLU) -> logits.

    Layer names to tap: `block<i>` (spatial), `pool` and `penultimate` (flat), `logits`.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 10, width: int = 32, depth: int = 3,
                 hidden: int = 128):
        super().__init__()
        self.in_channels = in_channels
        widths = [in_channels] + [width * 2**i for i in range(depth)]
        for i in range(depth):
            self.add_module(f"block{i + 1}", conv_block(widths[i], widths[i + 1]))
        self.depth = depth
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())  # (B, C, H, W) -> (B, C)
        self.penultimate = nn.Sequential(nn.Linear(widths[-1], hidden), nn.ReLU())
        self.logits = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(self.depth):
            x = getattr(self, f"block{i + 1}")(x)
        return self.logits(self.penultimate(self.pool(x)))
