"""The first stage's posterior q(zbar | x): a diagonal Gaussian over the flat latent."""
from __future__ import annotations

import torch


def kl_standard_normal(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)) summed over dimensions: (B, D) -> (B,)."""
    return 0.5 * (mean**2 + logvar.exp() - 1.0 - logvar).flatten(1).sum(dim=1)


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
        return kl_standard_normal(self.mean, self.logvar)
