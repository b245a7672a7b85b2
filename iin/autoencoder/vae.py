"""First-stage autoencoder: convolutional VAE with a diagonal-Gaussian posterior."""
from __future__ import annotations

import math

import torch
from torch import nn


class DiagonalGaussian:
    """N(mean, exp(logvar)) per dimension; `kl()` is KL to N(0, I) summed over dimensions."""

    def __init__(self, mean: torch.Tensor, logvar: torch.Tensor):
        self.mean, self.logvar = mean, logvar.clamp(-30.0, 20.0)

    @property
    def std(self) -> torch.Tensor:
        return torch.exp(0.5 * self.logvar)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        noise = torch.randn(self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + self.std * noise

    def kl(self) -> torch.Tensor:
        return 0.5 * (self.mean**2 + self.logvar.exp() - 1.0 - self.logvar).sum(dim=1)


def _n_down(size: int) -> int:
    n = int(math.log2(size / 4))
    if size < 8 or 4 * 2**n != size:
        raise ValueError(f"the autoencoder needs a power-of-two image size >= 8, got {size}")
    return n


class Encoder(nn.Module):
    """(B, C, S, S) -> posterior parameters (B, 2 * z_dim) through stride-2 convolutions down to 4x4."""

    def __init__(self, in_channels: int, size: int, z_dim: int, width: int):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 3, padding=1), nn.LeakyReLU(0.2)]
        c = width
        for _ in range(_n_down(size)):
            layers += [nn.Conv2d(c, 2 * c, 4, stride=2, padding=1), nn.BatchNorm2d(2 * c), nn.LeakyReLU(0.2)]
            c *= 2
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * 16, 2 * z_dim))  # (B, c, 4, 4) -> (B, 2z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Decoder(nn.Module):
    """(B, z_dim) -> image (B, C, S, S) in [0, 1]."""

    def __init__(self, out_channels: int, size: int, z_dim: int, width: int):
        super().__init__()
        n = _n_down(size)
        c = width * 2**n
        self.fc = nn.Linear(z_dim, c * 16)
        layers: list[nn.Module] = [nn.Unflatten(1, (c, 4, 4))]  # (B, c*16) -> (B, c, 4, 4)
        for _ in range(n):
            layers += [nn.ConvTranspose2d(c, c // 2, 4, stride=2, padding=1), nn.BatchNorm2d(c // 2), nn.LeakyReLU(0.2)]
            c //= 2
        self.net = nn.Sequential(*layers, nn.Conv2d(c, out_channels, 3, padding=1), nn.Sigmoid())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.fc(z))


class VAE(nn.Module):
    """E: x -> DiagonalGaussian over zbar (z_dim); D: zbar -> x."""

    def __init__(self, in_channels: int = 3, size: int = 32, z_dim: int = 64, width: int = 32):
        super().__init__()
        self.in_channels, self.size, self.z_dim = in_channels, size, z_dim
        self.encoder = Encoder(in_channels, size, z_dim, width)
        self.decoder = Decoder(in_channels, size, z_dim, width)

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        return DiagonalGaussian(mean, logvar)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction through the posterior mean: D(E(x))."""
        return self.decode(self.encode(x).mean)
