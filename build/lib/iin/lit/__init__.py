"""LightningModules: training recipes around plain nn.Modules."""
from .autoencoder import AutoencoderModule
from .classifier import ClassifierModule
from .concepts import ConceptModule
from .invariance import InvarianceModule

__all__ = ["AutoencoderModule", "ClassifierModule", "ConceptModule", "InvarianceModule"]
