"""Building blocks of the first stage, after the autoencoders of latent-diffusion models (Rombach et al. 2022):
pre-activation residual blocks, stride-2 resampling that also changes the width between levels."""
from __future__ import annotations

import math

from torch import nn

from ..errors import ConfigError

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
