"""Positions on feature maps in image pixels: grids, peaks, local maxima and centroids."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def grid_positions(shape: tuple[int, int] | torch.Size, image_size: int) -> torch.Tensor:
    """Centres (x, y) in pixels of the cells of an (h, w) map over a square image, (h*w, 2)."""
    h, w = shape
    ys = (torch.arange(h, dtype=torch.float32) + 0.5) * image_size / h
    xs = (torch.arange(w, dtype=torch.float32) + 0.5) * image_size / w
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")  # (h, w) each
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], -1)


def peak_positions(fmap: torch.Tensor, image_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each map's argmax in pixels (N, C, 2) and its value (N, C)."""
    value, idx = fmap.flatten(2).max(-1)  # (N, C, H, W) -> (N, C)
    return grid_positions(fmap.shape[-2:], image_size)[idx], value


def local_peaks(fmap: torch.Tensor, k: int, image_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k strongest local maxima (3x3) per map: positions (N, C, k, 2) px and values (N, C, k), 0 if absent."""
    is_peak = (fmap == F.max_pool2d(fmap, 3, stride=1, padding=1)) & (fmap > 0)
    value, idx = (fmap * is_peak).flatten(2).topk(k, dim=-1)  # (N, C, k)
    return grid_positions(fmap.shape[-2:], image_size)[idx], value


def weighted_centroid(fmap: torch.Tensor, image_size: int) -> torch.Tensor:
    """Activation-weighted centroid over all channels and cells, (N, 2) px (image centre if silent)."""
    w = fmap.sum(1).flatten(1)  # (N, C, H, W) -> (N, H*W)
    grid = grid_positions(fmap.shape[-2:], image_size)
    total = w.sum(1, keepdim=True)
    centre = (w @ grid) / total.clamp(min=1e-8)
    return torch.where(total > 0, centre, torch.full_like(centre, image_size / 2))
