"""First-stage loss: reconstruction + beta * KL (per image, averaged over the batch)."""
from __future__ import annotations

import torch

from ..autoencoder.vae import DiagonalGaussian


def vae_loss(x: torch.Tensor, recon: torch.Tensor, posterior: DiagonalGaussian, beta: float) -> dict[str, torch.Tensor]:
    """Squared error summed over pixels (a Gaussian likelihood with unit scale up to a constant) + beta * KL."""
    rec = ((recon - x) ** 2).flatten(1).sum(1).mean()
    kl = posterior.kl().mean()
    return {"loss": rec + beta * kl, "rec": rec, "kl": kl}
