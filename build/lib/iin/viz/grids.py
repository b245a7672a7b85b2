"""Image grids: images in [0, 1] tiled into rows and columns, with row and column labels, written as one PNG."""
from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F

from ._mpl import plt, save_figure

DPI = 100
MIN_CELL = 72  # pixels per image side at least: 32 px digits scaled up x3 stay sharp and readable
FONT = 9  # points; at DPI 100 about 6 px per character


def grid_image(images: torch.Tensor, nrow: int = 8, padding: int = 1, pad_value: float = 1.0) -> torch.Tensor:
    """Tile (N, C, H, W) images, `nrow` per row, into one (H', W', C) float tensor in [0, 1]."""
    if images.dim() != 4:
        raise ValueError(f"a grid needs images of shape (N, C, H, W), got {tuple(images.shape)}")
    x = images.detach().float().cpu().clamp(0, 1)
    x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x  # grey -> RGB
    n, c, h, w = x.shape
    rows = (n + nrow - 1) // nrow
    canvas = torch.full((c, rows * (h + padding) + padding, nrow * (w + padding) + padding), pad_value)
    for i in range(n):
        top, left = padding + (i // nrow) * (h + padding), padding + (i % nrow) * (w + padding)
        canvas[:, top:top + h, left:left + w] = x[i]
    return canvas.permute(1, 2, 0)  # (C, H', W') -> (H', W', C)


def upscale(images: torch.Tensor, min_side: int = MIN_CELL) -> torch.Tensor:
    """(N, C, H, W) enlarged by the smallest whole factor that makes the shorter side >= min_side (nearest
    neighbour: every pixel stays a sharp block, nothing is invented)."""
    factor = max(1, math.ceil(min_side / min(images.shape[-2:])))
    return F.interpolate(images.detach().float().cpu(), scale_factor=factor, mode="nearest") if factor > 1 else images


def _as_rows(images: torch.Tensor, nrow: int | None) -> tuple[torch.Tensor, int]:
    """(R, K, C, H, W) as (R*K, C, H, W) with K per row, or (N, C, H, W) with `nrow` per row."""
    if images.dim() == 5:
        return images.flatten(0, 1), images.shape[1]  # (R, K, C, H, W) -> (R*K, C, H, W)
    if images.dim() != 4:
        raise ValueError(f"a grid needs images (N, C, H, W) or (rows, cols, C, H, W), got {tuple(images.shape)}")
    return images, int(nrow or 8)


def _check(labels: Sequence[str] | None, count: int, what: str) -> list[str]:
    if labels is not None and len(labels) != count:
        raise ValueError(f"{len(labels)} {what} labels for {count} {what}s")
    return [str(label) for label in labels] if labels else []


def save_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None,
              row_labels: Sequence[str] | None = None, col_labels: Sequence[str] | None = None,
              title: str | None = None, min_cell: int = MIN_CELL) -> Path:
    """Write images as a labelled PNG grid: (rows, cols, C, H, W), or (N, C, H, W) with `nrow` per row.

    Small images are scaled up (nearest neighbour) to at least `min_cell` pixels; each row label sits left of
    its row and each column label above its column. The PNG is written atomically and byte-for-byte reproducibly.
    """
    flat, ncol = _as_rows(images, nrow)
    rows = (flat.shape[0] + ncol - 1) // ncol
    big = upscale(flat, min_cell)
    grid = grid_image(big, ncol, padding=2)  # (H', W', 3)
    cell_h, cell_w = big.shape[-2] + 2, big.shape[-1] + 2
    char = FONT * DPI / 72 * 0.6  # average glyph width in pixels
    rlabels = _check(row_labels, rows, "row")
    clabels = [textwrap.fill(s, max(4, int(cell_w / char))) for s in _check(col_labels, ncol, "column")]
    left = int(max((len(s) for s in rlabels), default=0) * char) + (10 if rlabels else 0)
    col_lines = max((s.count("\n") + 1 for s in clabels), default=0)
    top = int(col_lines * FONT * DPI / 72 * 1.3) + (6 if clabels else 0) + (22 if title else 0)
    height, width = grid.shape[0] + top, grid.shape[1] + left
    fig = plt.figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    ax = fig.add_axes((left / width, 0, grid.shape[1] / width, grid.shape[0] / height))
    ax.imshow(grid.numpy(), interpolation="nearest")
    ax.set_axis_off()
    for r, label in enumerate(rlabels):
        ax.text(-6, 2 + (r + 0.5) * cell_h, label, ha="right", va="center", fontsize=FONT)
    for c, label in enumerate(clabels):
        ax.text(2 + (c + 0.5) * cell_w, -4, label, ha="center", va="bottom", fontsize=FONT)
    if title:
        fig.text(0.5, 1 - 4 / height, title, ha="center", va="top", fontsize=FONT + 1)
    return save_figure(fig, path, dpi=DPI)
