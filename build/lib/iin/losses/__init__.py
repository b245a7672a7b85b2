"""Losses: autoencoder objective, flow negative log-likelihood, FactorLoss."""
from .autoencoder import vae_loss
from .factor import FactorLoss, factor_pair_nll
from .nll import bits_per_dim, nll

__all__ = ["FactorLoss", "bits_per_dim", "factor_pair_nll", "nll", "vae_loss"]
