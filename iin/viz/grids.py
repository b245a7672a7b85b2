"""Image grids: a batch of images (N, C, H, W) in [0, 1] tiled into rows, optionally with row labels."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from ._mpl import plt, save_figure


def grid_image(images: torch.Tensor, nrow: int = 8, padding: int = 1, pad_value: float = 1.0) -> torch.Tensor:
    """Tile (N, C, H, W) images, `nrow` per row, into one (H', W', C) float tensor in [0, 1]."""
    if images.dim() != 4:
        raise ValueError(f"save_grid expects images of shape (N, C, H, W), got {tuple(images.shape)}")
    x = images.detach().float().cpu().clamp(0, 1)
    x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x  # grey -> RGB
    n, c, h, w = x.shape
    rows = (n + nrow - 1) // nrow
    canvas = torch.full((c, rows * (h + padding) + padding, nrow * (w + padding) + padding), pad_value)
    for i in range(n):
        top, left = padding + (i // nrow) * (h + padding), padding + (i % nrow) * (w + padding)
        canvas[:, top:top + h, left:left + w] = x[i]
    return canvas.permute(1, 2, 0)  # (C, H', W') -> (H', W', C)


def save_grid(images: torch.Tensor, path: str | Path, nrow: int = 8, row_labels: Sequence[str] | None = None,
              title: str | None = None, scale: float = 0.5) -> Path:
    """Write images (N, C, H, W) in [0, 1] as a PNG grid with `nrow` images per row and optional row labels."""
    grid = grid_image(images, nrow)
    rows = (images.shape[0] + nrow - 1) // nrow
    if row_labels is not None and len(row_labels) != rows:
        raise ValueError(f"{len(row_labels)} row labels for {rows} rows")
    height, width = grid.shape[0], grid.shape[1]
    fig = plt.figure(figsize=(max(1.0, scale * width / 16), max(1.0, scale * height / 16)))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(grid.numpy(), interpolation="nearest")
    ax.set_xticks([])
    cell = height / rows
    ax.set_yticks([cell * (r + 0.5) for r in range(rows)] if row_labels else [])
    if row_labels:
        ax.set_yticklabels(list(row_labels), fontsize=8)
    for side in ax.spines.values():
        side.set_visible(False)
    if title:
        ax.set_title(title, fontsize=9)
    return save_figure(fig, path)
