"""First-stage loss: reconstruction + beta * KL (per image, averaged over the batch)."""
from __future__ import annotations

import torch

from ..autoencoder.protocol import Posterior, kl_standard_normal


def vae_loss(x: torch.Tensor, recon: torch.Tensor, posterior: Posterior, beta: float) -> dict[str, torch.Tensor]:
    """Squared error summed over pixels (a Gaussian likelihood with unit scale up to a constant) + beta * KL.

    The KL is computed from the posterior's mean and logvar, so any first stage that follows the protocol trains."""
    rec = ((recon - x) ** 2).flatten(1).sum(1).mean()
    kl = kl_standard_normal(posterior.mean, posterior.logvar).mean()
    return {"loss": rec + beta * kl, "rec": rec, "kl": kl}
