"""Condition embedders: map a layer's features z = Phi_l(x) to the vector that conditions every coupling."""
from __future__ import annotations

import torch
from torch import nn

from ..backbones.tokens import token_layout, tokens_to_grid
from ..errors import LayerError


class Standardize(nn.Module):
    """(x - mean) / std with per-feature (or per-channel) statistics stored as buffers."""

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        stat_shape = (shape[0], 1, 1) if len(shape) == 3 else shape
        self.register_buffer("mean", torch.zeros(stat_shape))
        self.register_buffer("std", torch.ones(stat_shape))

    @torch.no_grad()
    def fit(self, z: torch.Tensor) -> None:
        """Set the statistics from a sample of features (N, *shape)."""
        z = z.flatten(1) if self.mean.ndim == 1 else z  # pooled maps (N, C, 1, 1) -> (N, C)
        dims = (0, 2, 3) if z.ndim == 4 else (0,)
        self.set(z.mean(dims, keepdim=True)[0], z.std(dims, keepdim=True)[0])

    @torch.no_grad()
    def set(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Set the statistics (shaped like the buffers); a std below 1e-4 is raised to it (constant units)."""
        self.mean.copy_(mean.reshape(self.mean.shape))
        self.std.copy_(std.reshape(self.std.shape).clamp_min(1e-4))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.mean) / self.std


class DenseEmbedder(nn.Module):
    """Flat features (B, D) -> (B, out_dim)."""

    def __init__(self, in_dim: int, out_dim: int, width: int = 256):
        super().__init__()
        self.norm = Standardize((in_dim,))
        self.net = nn.Sequential(nn.Linear(in_dim, width), nn.LeakyReLU(0.1), nn.Linear(width, width),
                                 nn.LeakyReLU(0.1), nn.Linear(width, out_dim))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.norm(z.flatten(1)))  # (B, C, 1, 1) -> (B, C) for pooled maps


class ConvEmbedder(nn.Module):
    """Spatial features (B, C, H, W) -> [fold] -> stride-2 convolutions down to <= 4x4 -> (B, out_dim).

    A map larger than `grid` is first folded space-to-depth (PixelUnshuffle by r: each r x r patch becomes
    r*r*C channels) to about `grid` x `grid`. A raw image then reaches the convolutions like a CNN's early map,
    each pixel's colour still in its own channels; strided convolutions over the full resolution learn colour
    slowly and cost most of the flow's time.
    """

    def __init__(self, shape: tuple[int, int, int], out_dim: int, width: int = 64, grid: int | None = None):
        super().__init__()
        c, h, _ = shape
        self.norm = Standardize(shape)
        r = fold_factor(h, grid)
        layers: list[nn.Module] = [nn.PixelUnshuffle(r)] if r > 1 else []
        c, h = c * r * r, h // r
        while h > 4:
            layers += [nn.Conv2d(c, width, 4, stride=2, padding=1), nn.LeakyReLU(0.1)]
            c, h = width, h // 2
        layers += [nn.Conv2d(c, width, 3, padding=1), nn.LeakyReLU(0.1)]
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(width * h * h, out_dim))  # (B, w, h, h) -> (B, w*h*h)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.norm(z))


def fold_factor(size: int, grid: int | None) -> int:
    """The largest r dividing `size` that leaves at least `grid` (1: no fold; always for grid None or a smaller map)."""
    if not grid:
        return 1
    return max(r for r in range(1, size + 1) if size % r == 0 and size // r >= min(grid, size))


class TokenEmbedder(nn.Module):
    """Token features (B, N, D) -> (B, out_dim): the patch tokens laid out as their grid (B, D, h, w) through a
    ConvEmbedder, the class token (if any) through a DenseEmbedder, both concatenated and projected.

    A grid rather than attention pooling: each patch token stays tied to its image patch, so the grid keeps
    the spatial layout that the convolutions use as they do on a CNN's maps; an attention pool would have
    to learn that layout back from the position embeddings mixed into the tokens.
    """

    def __init__(self, shape: tuple[int, int], out_dim: int, width: int = 256, conv_width: int = 64,
                 conv_grid: int | None = None):
        super().__init__()
        n, d = shape
        self.has_cls = token_layout(n)[0] == 1
        self.norm = Standardize((n, d))  # per token and feature: the class token has its own statistics
        self.grid = ConvEmbedder((d, *tokens_to_grid(torch.zeros(1, n, d)).shape[-2:]), out_dim, conv_width,
                                  conv_grid)
        self.cls = DenseEmbedder(d, out_dim, width) if self.has_cls else None
        self.out = nn.Linear(2 * out_dim, out_dim) if self.has_cls else nn.Identity()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = self.norm(z)
        grid = self.grid(tokens_to_grid(z))  # (B, N, D) -> (B, D, h, w) -> (B, out_dim)
        if self.cls is None:
            return grid
        return self.out(torch.cat([grid, self.cls(z[:, 0])], 1))  # (B, 2 * out_dim) -> (B, out_dim)


def make_embedder(shape: tuple[int, ...], out_dim: int, width: int, conv_width: int = 64,
                  conv_grid: int | None = None) -> nn.Module:
    """By condition shape: DenseEmbedder (hidden `width`) for flat features (D,) or pooled maps (C, 1, 1),
    ConvEmbedder (`conv_width` channels, maps folded to about `conv_grid`) for spatial ones (C, H, W),
    TokenEmbedder for tokens (N, D)."""
    shape = tuple(shape)
    if len(shape) == 1 or (len(shape) == 3 and shape[1] == shape[2] == 1):
        return DenseEmbedder(shape[0], out_dim, width)
    if len(shape) == 3:
        return ConvEmbedder(shape, out_dim, conv_width, conv_grid)
    if len(shape) == 2 and token_layout(shape[0]) is not None:
        return TokenEmbedder(shape, out_dim, width, conv_width, conv_grid)
    if len(shape) == 2:
        raise LayerError(f"token features {shape} (N, D) need N = h*w patch tokens or 1 + h*w (class token first); "
                         f"N = {shape[0]} is neither: tap another layer or reduce it with '#cls' or '#mean'")
    raise LayerError(f"features must be flat (D,), spatial (C, H, W) or tokens (N, D); got shape {shape}: "
                     f"tap another layer")
