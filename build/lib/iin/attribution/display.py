"""Display helpers, kept apart from the methods (which return raw maps): normalise and overlay."""
from __future__ import annotations

import torch
from matplotlib import colormaps


def normalize(maps: torch.Tensor, percentile: float = 99.0) -> torch.Tensor:
    """Per-map scaling of (B, 1, H, W) into [0, 1]: minimum -> 0, the given percentile -> 1 (clipped)."""
    flat = maps.detach().float().flatten(1)  # (B, 1, H, W) -> (B, H*W)
    low = flat.min(dim=1, keepdim=True).values
    high = torch.quantile(flat, percentile / 100, dim=1, keepdim=True)
    high = torch.where(high > low, high, flat.max(dim=1, keepdim=True).values)
    return ((flat - low) / (high - low).clamp_min(1e-12)).clamp(0, 1).view_as(maps)


def overlay(images: torch.Tensor, maps: torch.Tensor, alpha: float = 0.5, cmap: str = "jet") -> torch.Tensor:
    """Blend normalised maps (B, 1, H, W), coloured with `cmap`, over images (B, 3, H, W) in [0, 1]."""
    lut = torch.tensor(colormaps[cmap](torch.linspace(0, 1, 256).numpy())[:, :3], dtype=torch.float32)
    idx = (normalize(maps)[:, 0] * 255).round().long().cpu()  # (B, H, W)
    heat = lut[idx].permute(0, 3, 1, 2).to(images)  # (B, H, W, 3) -> (B, 3, H, W)
    gray = images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images
    return (1 - alpha) * gray + alpha * heat
