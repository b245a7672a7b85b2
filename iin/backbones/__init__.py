"""Backbones: the toolkit's small CNNs, torchvision models by name, any _target_; the layer tap and FeatureExtractor."""
from .extractor import FeatureExtractor
from .registry import BACKBONES, backbone_build, build_backbone, input_channels, named_backbone
from .taps import Tap, UnknownLayerError, forward_from, forward_with_leaf, list_layers, read, resolve_layer, tap
from .tiny import TinyCNN
from .tokens import reduce_tokens, token_layout, tokens_to_grid, write_tokens
from .torchvision_models import torchvision_model

__all__ = ["BACKBONES", "FeatureExtractor", "Tap", "TinyCNN", "UnknownLayerError", "backbone_build", "build_backbone",
           "forward_from", "forward_with_leaf", "input_channels", "list_layers", "named_backbone", "read", "reduce_tokens",
           "resolve_layer", "tap", "token_layout", "tokens_to_grid", "torchvision_model", "write_tokens"]
