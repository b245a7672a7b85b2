"""The toolkit's first stage: a residual VAE for any image size divisible by 2^(levels - 1) (8 by default).

Encoder: conv_in, one level per channel multiplier (`res_blocks` residual blocks each, widths `width * mult`,
so widths stay capped however large the image), stride-2 downsampling between levels, then a small conv to
`latent_channels` and a Linear to the flat posterior parameters (2 * z_dim): the INNs model a flat zbar.
The decoder mirrors it and ends in a sigmoid, so images come back in [0, 1].
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from ..errors import ConfigError
from .protocol import DiagonalGaussian

# Building blocks, after the autoencoders of latent-diffusion models (Rombach et al. 2022): pre-activation
# residual blocks, stride-2 resampling that also changes the width between levels.
NORMS = ("group", "batch", "none")


def norm_layer(kind: str, channels: int) -> nn.Module:
    """GroupNorm (as in latent diffusion; independent of the batch), BatchNorm or nothing."""
    if kind == "group":
        return nn.GroupNorm(math.gcd(32, channels), channels, eps=1e-6)  # 32 groups where the width allows
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "none":
        return nn.Identity()
    raise ConfigError(f"autoencoder.net.norm={kind!r} is not a normalisation; choose one of {list(NORMS)}")


def pre_activation(kind: str, channels: int) -> list[nn.Module]:
    # LeakyReLU rather than latent diffusion's SiLU: on these short CPU schedules it fits sooner
    return [norm_layer(kind, channels), nn.LeakyReLU(0.2)]


class ResnetBlock(nn.Module):
    """x + conv(act(norm(conv(act(norm(x)))))): (B, c, h, w) -> (B, c, h, w)."""

    def __init__(self, channels: int, norm: str):
        super().__init__()
        self.body = nn.Sequential(*pre_activation(norm, channels), nn.Conv2d(channels, channels, 3, padding=1),
                                  *pre_activation(norm, channels), nn.Conv2d(channels, channels, 3, padding=1))
        # each block starts as the identity: at initialisation the network is the plain strided one, which fits
        # quickly, and the blocks add capacity as they learn
        nn.init.zeros_(self.body[-1].weight)
        nn.init.zeros_(self.body[-1].bias)

    def forward(self, x):
        return x + self.body(x)


def downsample(c_in: int, c_out: int, norm: str) -> nn.Sequential:
    """(B, c_in, h, w) -> (B, c_out, h/2, w/2): a strided convolution after the pre-activation."""
    return nn.Sequential(*pre_activation(norm, c_in), nn.Conv2d(c_in, c_out, 3, stride=2, padding=1))


def upsample(c_in: int, c_out: int, norm: str) -> nn.Sequential:
    """(B, c_in, h, w) -> (B, c_out, 2h, 2w): kernel 4, stride 2 covers every output pixel evenly (no checkerboard)."""
    return nn.Sequential(*pre_activation(norm, c_in), nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1))


def level(channels: int, res_blocks: int, norm: str) -> list[nn.Module]:
    return [ResnetBlock(channels, norm) for _ in range(res_blocks)]


def check_size(size: int, factor: int) -> int:
    """The latent side size / factor; sizes the network cannot take raise ConfigError naming the nearest valid ones."""
    if size >= factor and size % factor == 0:
        return size // factor
    below, above = (size // factor) * factor, (size // factor + 1) * factor
    nearest = " or ".join(str(s) for s in (below, above) if s >= factor)
    raise ConfigError(f"the autoencoder cannot take {size} px images: it needs a size divisible by {factor} "
                      f"({factor}, {2 * factor}, {3 * factor}, ...); the nearest are {nearest} (set data.options.size)")


class Encoder(nn.Module):
    """(B, C, S, S) -> posterior parameters (B, 2 * z_dim)."""

    def __init__(self, in_channels: int, size: int, z_dim: int, widths: list[int], res_blocks: int,
                 latent_channels: int, norm: str):
        super().__init__()
        side = check_size(size, 2 ** (len(widths) - 1))
        layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 3, padding=1)]
        for i, c in enumerate(widths):
            layers += level(c, res_blocks, norm)
            if i + 1 < len(widths):
                layers.append(downsample(c, widths[i + 1], norm))
        # 1x1: the Linear after it mixes all positions anyway
        layers += [*pre_activation(norm, widths[-1]), nn.Conv2d(widths[-1], latent_channels, 1)]
        self.net = nn.Sequential(*layers)
        self.fc = nn.Linear(latent_channels * side * side, 2 * z_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.net(x).flatten(1))  # (B, latent_channels, s, s) -> (B, latent_channels*s*s)


class Decoder(nn.Module):
    """(B, z_dim) -> images (B, C, S, S) in [0, 1]."""

    def __init__(self, out_channels: int, size: int, z_dim: int, widths: list[int], res_blocks: int,
                 latent_channels: int, norm: str):
        super().__init__()
        side = check_size(size, 2 ** (len(widths) - 1))
        self.fc = nn.Linear(z_dim, latent_channels * side * side)
        layers: list[nn.Module] = [nn.Unflatten(1, (latent_channels, side, side)),  # (B, lc*s*s) -> (B, lc, s, s)
                                   nn.Conv2d(latent_channels, widths[-1], 1)]
        for i in reversed(range(len(widths))):
            layers += level(widths[i], res_blocks, norm)
            if i > 0:
                layers.append(upsample(widths[i], widths[i - 1], norm))
        layers += [*pre_activation(norm, widths[0]), nn.Conv2d(widths[0], out_channels, 3, padding=1), nn.Sigmoid()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.fc(z))


class VAE(nn.Module):
    """E: x -> DiagonalGaussian over zbar (B, z_dim); D: zbar -> x (B, C, S, S) in [0, 1].

    Satisfies the first-stage protocol (iin.autoencoder.protocol). Level i has width `width * mults[i]`;
    there are len(mults) - 1 downsamplings, so `size` must be divisible by 2^(len(mults) - 1)."""

    def __init__(self, in_channels: int = 3, size: int = 32, z_dim: int = 64, width: int = 32,
                 mults: Sequence[int] = (1, 2, 4, 8), res_blocks: int = 0, latent_channels: int = 128,
                 norm: str = "batch"):
        super().__init__()
        if not mults or min(mults) < 1 or res_blocks < 0 or latent_channels < 1:
            raise ConfigError(f"autoencoder.net: mults={list(mults)} must be integers >= 1 (one per level), "
                              f"res_blocks={res_blocks} >= 0 and latent_channels={latent_channels} >= 1")
        if norm not in NORMS:
            raise ConfigError(f"autoencoder.net.norm={norm!r} is not a normalisation; choose one of {list(NORMS)}")
        self.in_channels, self.size, self.z_dim = in_channels, size, z_dim
        widths = [width * int(m) for m in mults]
        args = (size, z_dim, widths, res_blocks, latent_channels, norm)
        self.encoder = Encoder(in_channels, *args)
        self.decoder = Decoder(in_channels, *args)

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        return DiagonalGaussian(mean, logvar)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction through the posterior mean: D(E(x))."""
        return self.decode(self.encode(x).mean)
