"""Coloured MNIST: mnist5k digits painted with one of K saturated palette colours.

Ground-truth factors come with every example: `digit`, `color` and, when a background palette is
enabled, `bg`. Colours are drawn from a seed, so every split is deterministic.
"""
from __future__ import annotations

import colorsys

import torch

from .mnist5k import mnist5k
from .tensor_dataset import FactorDataset


def palette(k: int, saturation: float = 1.0, value: float = 1.0) -> torch.Tensor:
    """K colours equally spaced in hue, (K, 3) in [0, 1]."""
    if k < 1:
        raise ValueError(f"palette size must be >= 1, got {k}")
    return torch.tensor([colorsys.hsv_to_rgb(i / k, saturation, value) for i in range(k)])


def background_palette(k: int) -> torch.Tensor:
    """Dark, desaturated background colours so the foreground stays the brightest part."""
    return palette(k, saturation=0.6, value=0.3)


def paint(grey: torch.Tensor, fg: torch.Tensor, bg: torch.Tensor) -> torch.Tensor:
    """Blend grey (N, 1, H, W) between background bg (N, 3) and foreground fg (N, 3)."""
    return grey * fg[:, :, None, None] + (1 - grey) * bg[:, :, None, None]  # (N, 3, H, W)


def colormnist(
    split: str,
    n_colors: int = 8,
    n_backgrounds: int = 0,
    size: int = 32,
    seed: int = 0,
    n: int | None = None,
    paint_as: int | None = None,
) -> FactorDataset:
    """Coloured digits; `n_backgrounds=0` keeps the background black and adds no `bg` factor.

    `n` keeps a seeded random subset of the split (for quick experiments and tests). `paint_as` paints
    every digit in that palette colour and keeps everything else (digits, order, backgrounds): the
    ground truth of a pure colour change.
    """
    grey, digits = mnist5k(split, size)
    gen = torch.Generator().manual_seed(seed + (0 if split == "train" else 10_000))
    if n is not None:
        keep = torch.randperm(len(digits), generator=gen)[:n].sort().values
        grey, digits = grey[keep], digits[keep]
    color = torch.randint(n_colors, (len(digits),), generator=gen)
    if paint_as is not None:
        if not 0 <= paint_as < n_colors:
            raise ValueError(f"paint_as must be a palette index in [0, {n_colors}), got {paint_as}")
        color = torch.full_like(color, paint_as)
    factors = {"digit": digits, "color": color}
    bg_rgb = torch.zeros(len(digits), 3)
    if n_backgrounds > 0:
        bg = torch.randint(n_backgrounds, (len(digits),), generator=gen)
        bg_rgb = background_palette(n_backgrounds)[bg]
        factors["bg"] = bg
    images = paint(grey, palette(n_colors)[color], bg_rgb)
    return FactorDataset(images, factors, label="digit", masks=grey > 0.5)
