"""iin: invertible interpretation networks for frozen CNNs (invariances, concepts, attribution baselines)."""
__version__ = "0.1.0"  # first: submodules read it (the feature cache fingerprint)

from .backbones import FeatureExtractor, build_backbone, list_layers
from .editing import Edit, Interpreter
from .flows import DisentanglingINN, InvarianceCINN
from .losses import FactorLoss
from .run import Run

__all__ = ["DisentanglingINN", "Edit", "FactorLoss", "FeatureExtractor", "InvarianceCINN", "Interpreter", "Run",
           "build_backbone", "list_layers"]
