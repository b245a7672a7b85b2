"""An ordinary CNN and its interpretable twin: the same conv blocks plus a top conv layer.

The interpretable CNN's top layer (`top`) is Zhang et al.'s interpretable conv layer: conv ->
batch norm -> ReLU -> forward mask around each map's peak, trained with the filter loss of
`iin.zhang.loss`. The ordinary CNN has the same layer without mask and loss. Layer names
(`block<i>`, `top`, `pool`, `penultimate`, `logits`) follow TinyCNN, so FeatureExtractor taps them.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..backbones.tiny import conv_block
from .loss import apply_mask, filter_loss


@dataclass
class ZhangConfig:
    """Build options of ZhangCNN (saved in checkpoints, so plain values only)."""

    in_channels: int = 3
    num_classes: int = 2      # class 0 is the negative (background) class
    width: int = 16           # channels of block1; doubles per block
    depth: int = 2            # 48 px -> 12 x 12 maps in the top layer
    top_channels: int = 32    # filters of the (interpretable) top conv layer
    hidden: int = 64
    interpretable: bool = False
    beta: float = 4.0         # template / mask fall-off, as in the paper
    tau: float = 2.0          # template strength in units of the normalised peak activation
    alpha: float = 0.5        # prior p(T+) = share of positive images per filter


class InterpretableConv(nn.Module):
    """conv 3x3 -> BN -> ReLU, then (interpretable) the forward mask; returns (output, map before the mask)."""

    def __init__(self, c_in: int, c_out: int, interpretable: bool, beta: float):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())
        self.interpretable, self.beta = interpretable, beta

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fmap = self.conv(x)
        return (apply_mask(fmap, self.beta) if self.interpretable else fmap), fmap


class ZhangCNN(nn.Module):
    """block1..blockN -> top (interpretable or ordinary conv) -> pool -> penultimate -> logits."""

    def __init__(self, **options):
        super().__init__()
        cfg = self.cfg = ZhangConfig(**options)
        widths = [cfg.in_channels] + [cfg.width * 2**i for i in range(cfg.depth)]
        for i in range(cfg.depth):
            self.add_module(f"block{i + 1}", conv_block(widths[i], widths[i + 1]))
        self.top = InterpretableConv(widths[-1], cfg.top_channels, cfg.interpretable, cfg.beta)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())  # (B, C, H, W) -> (B, C)
        self.penultimate = nn.Sequential(nn.Linear(cfg.top_channels, cfg.hidden), nn.ReLU())
        self.logits = nn.Linear(cfg.hidden, cfg.num_classes)
        categories = max(cfg.num_classes - 1, 1)
        # filter f serves category 1 + f mod K; images of other labels are its negatives
        self.register_buffer("filter_category", 1 + torch.arange(cfg.top_channels) % categories)

    def maps(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every conv layer's output by name; `top` is the masked output, `top_raw` the map before the mask."""
        out = {}
        for i in range(self.cfg.depth):
            x = out[f"block{i + 1}"] = getattr(self, f"block{i + 1}")(x)
        out["top"], out["top_raw"] = self.top(x)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(self.penultimate(self.pool(self.maps(x)["top"])))

    def loss(self, x: torch.Tensor, y: torch.Tensor, lam: float) -> tuple[torch.Tensor, dict[str, float]]:
        """Cross-entropy plus (interpretable) lam * filter loss on the top layer's maps before the mask."""
        maps = self.maps(x)
        logits = self.logits(self.penultimate(self.pool(maps["top"])))
        task = nn.functional.cross_entropy(logits, y)
        stats = {"task": float(task.detach()), "accuracy": float((logits.argmax(1) == y).float().mean())}
        if not self.cfg.interpretable:
            return task, stats
        positive = y[:, None] == self.filter_category[None]  # (B, F)
        floss = filter_loss(maps["top_raw"], positive, tau=self.cfg.tau, alpha=self.cfg.alpha, beta=self.cfg.beta)
        stats["filter"] = float(floss.detach())
        return task + lam * floss, stats
