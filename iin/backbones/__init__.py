"""Backbones: the toolkit's small CNNs, torchvision models by name, any _target_; FeatureExtractor."""
from .extractor import FeatureExtractor, UnknownLayerError, list_layers, resolve_layer
from .registry import BACKBONES, build_backbone, input_channels
from .tiny import TinyCNN
from .torchvision_models import torchvision_model

__all__ = ["BACKBONES", "FeatureExtractor", "TinyCNN", "UnknownLayerError", "build_backbone", "input_channels",
           "list_layers", "resolve_layer", "torchvision_model"]
