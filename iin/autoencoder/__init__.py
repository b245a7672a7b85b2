"""First stage (E, D): the toolkit's residual VAE, its diagonal-Gaussian posterior, the protocol any first stage
satisfies, and the optional patch discriminator."""
from .discriminator import PatchDiscriminator, hinge_d_loss
from .protocol import DiagonalGaussian, FirstStage, build_first_stage, check_first_stage, kl_standard_normal
from .vae import VAE

__all__ = ["VAE", "DiagonalGaussian", "FirstStage", "PatchDiscriminator", "build_first_stage", "check_first_stage", "hinge_d_loss",
           "kl_standard_normal"]
