"""Losses: autoencoder objective, flow negative log-likelihood, FactorLoss."""
from .autoencoder import vae_loss

__all__ = ["vae_loss"]
