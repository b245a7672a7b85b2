"""Procedural dSprites-like shapes with factors, object masks and landmarks, reproducible from a seed.

Factors (all discrete): shape (square, ellipse, triangle), scale, rotation, x, y, color.
Landmarks are 4 points per object in pixel coordinates (x, y): the corners of the square, the
ends of the ellipse's axes, the triangle's vertices plus its centre.
"""
from __future__ import annotations

import math
from functools import lru_cache

import torch

from .colormnist import palette
from .tensor_dataset import FactorDataset

SHAPES = ("square", "ellipse", "triangle")
N_SCALES, N_ROTATIONS, N_POSITIONS = 4, 8, 6

# Canonical landmarks in the object frame (unit radius), (3 shapes, 4 points, xy).
_TRI = [(math.cos(a), math.sin(a)) for a in (math.pi / 2, math.pi * 7 / 6, math.pi * 11 / 6)]
_LANDMARKS = torch.tensor([
    [(0.8, 0.8), (-0.8, 0.8), (-0.8, -0.8), (0.8, -0.8)],
    [(1.0, 0.0), (0.0, 0.6), (-1.0, 0.0), (0.0, -0.6)],
    [*_TRI, (0.0, 0.0)],
])


def _inside(shape: torch.Tensor, px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
    """Membership of object-frame points (N, H, W) in each object's canonical shape."""
    square = torch.maximum(px.abs(), py.abs()) <= 0.8
    ellipse = px**2 + (py / 0.6) ** 2 <= 1.0
    tri = torch.ones_like(px, dtype=torch.bool)
    for (ax, ay), (bx, by) in zip(_TRI, _TRI[1:] + _TRI[:1]):  # counter-clockwise edges
        tri &= (bx - ax) * (py - ay) - (by - ay) * (px - ax) >= 0
    s = shape[:, None, None]
    return torch.where(s == 0, square, torch.where(s == 1, ellipse, tri))


def radii(size: int) -> torch.Tensor:
    """Object radius in pixels per scale level (N_SCALES,)."""
    return size * (0.14 + 0.05 * torch.arange(N_SCALES, dtype=torch.float32))


def positions(size: int) -> torch.Tensor:
    """Pixel coordinate of the object's centre per x (or y) level (N_POSITIONS,); the same for every scale."""
    margin = 1.15 * radii(size)[-1] + 1  # square corners reach 0.8 * sqrt(2) radii from the centre
    return margin + (size - 2 * margin) / (N_POSITIONS - 1) * torch.arange(N_POSITIONS, dtype=torch.float32)


def _factor_values(factors: dict[str, torch.Tensor], size: int) -> tuple[torch.Tensor, ...]:
    radius = radii(size)[factors["scale"]]  # pixels
    theta = factors["rotation"].float() * (2 * math.pi / N_ROTATIONS / 3)  # up to 120 degrees
    centre = positions(size)
    return radius, theta, centre[factors["x"]], centre[factors["y"]]


@lru_cache(maxsize=8)
def mask_areas(size: int) -> torch.Tensor:
    """Object area in pixels per (shape, scale) level (3, N_SCALES), drawn unrotated at the centre."""
    shape, scale = torch.meshgrid(torch.arange(len(SHAPES)), torch.arange(N_SCALES), indexing="ij")
    zeros = torch.zeros(shape.numel(), dtype=torch.long)
    factors = {"shape": shape.flatten(), "scale": scale.flatten(), "rotation": zeros, "x": zeros + N_POSITIONS // 2,
               "y": zeros + N_POSITIONS // 2, "color": zeros}
    return render(factors, size, 1)[1].flatten(1).sum(1).float().view(len(SHAPES), N_SCALES)


def render(factors: dict[str, torch.Tensor], size: int, n_colors: int) -> tuple[torch.Tensor, ...]:
    """Images (N, 3, H, W), masks (N, 1, H, W) and landmarks (N, 4, 2) for the given factors."""
    radius, theta, cx, cy = _factor_values(factors, size)
    coords = torch.arange(size, dtype=torch.float32) + 0.5
    qy, qx = torch.meshgrid(coords, coords, indexing="ij")  # (H, W) each
    dx, dy = qx[None] - cx[:, None, None], qy[None] - cy[:, None, None]  # (N, H, W)
    cos, sin = theta.cos()[:, None, None], theta.sin()[:, None, None]
    r = radius[:, None, None]
    px, py = (cos * dx + sin * dy) / r, (-sin * dx + cos * dy) / r  # rotate by -theta, scale
    mask = _inside(factors["shape"], px, -py)[:, None]  # image y points down
    rgb = palette(n_colors)[factors["color"]][:, :, None, None]
    images = mask.float() * rgb  # (N, 3, H, W)
    canon = _LANDMARKS[factors["shape"]]  # (N, 4, 2)
    cx_, sy_ = canon[..., 0], -canon[..., 1]
    c, s = theta.cos()[:, None], theta.sin()[:, None]
    lx = cx[:, None] + radius[:, None] * (c * cx_ - s * sy_)
    ly = cy[:, None] + radius[:, None] * (s * cx_ + c * sy_)
    return images, mask, torch.stack([lx, ly], dim=-1)


def shapes(split: str, n: int | None = None, size: int = 32, n_colors: int = 8, seed: int = 0) -> FactorDataset:
    """A reproducible shapes split: `n` images (6,000 train / 1,000 test by default)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    n = n or (6000 if split == "train" else 1000)
    gen = torch.Generator().manual_seed(seed + (0 if split == "train" else 10_000))
    levels = {"shape": len(SHAPES), "scale": N_SCALES, "rotation": N_ROTATIONS,
              "x": N_POSITIONS, "y": N_POSITIONS, "color": n_colors}
    factors = {name: torch.randint(k, (n,), generator=gen) for name, k in levels.items()}
    images, masks, landmarks = render(factors, size, n_colors)
    return FactorDataset(images, factors, label="shape", masks=masks, extras={"landmarks": landmarks})
