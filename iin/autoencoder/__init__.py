"""First-stage autoencoder (E, D) with a diagonal-Gaussian posterior."""
from .discriminator import PatchDiscriminator, hinge_d_loss
from .vae import VAE, DiagonalGaussian

__all__ = ["VAE", "DiagonalGaussian", "PatchDiscriminator", "hinge_d_loss"]
