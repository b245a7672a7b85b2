"""LightningModules: training recipes around plain nn.Modules."""
from .autoencoder import AutoencoderModule
from .classifier import ClassifierModule

__all__ = ["AutoencoderModule", "ClassifierModule"]
