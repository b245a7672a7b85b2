"""Build a backbone from a config: a registered name, a torchvision model name, or any `_target_`."""
from __future__ import annotations

from typing import Any, Callable, Mapping

from torch import nn

from ..checkpoint import build_module
from .tiny import TinyCNN
from .torchvision_models import torchvision_model

BACKBONES: dict[str, Callable[..., nn.Module]] = {"tiny_cnn": TinyCNN}


def build_backbone(config: Mapping[str, Any]) -> nn.Module:
    """`{name: tiny_cnn, ...}`, `{name: resnet18, weights: ..., ...}` or `{_target_: pkg.Class, ...}`."""
    return build_module(backbone_build(config))


def backbone_build(config: Mapping[str, Any]) -> dict[str, Any]:
    """A backbone config as a build config: a `name` is built by `named_backbone`, a `_target_` by itself."""
    config = dict(config)
    if "_target_" in config:
        return config
    if "name" not in config:
        raise ValueError("a backbone config needs `name` (registered or torchvision) or `_target_`")
    return {"_target_": "iin.backbones.named_backbone", **config}


def named_backbone(name: str, **options: Any) -> nn.Module:
    """A registered backbone (BACKBONES) or a torchvision classification model, by name."""
    if name in BACKBONES:
        return BACKBONES[name](**options)
    return torchvision_model(name, **options)


def input_channels(model: nn.Module) -> int | None:
    """Channels the model expects: its `in_channels` attribute or its first conv's."""
    if hasattr(model, "in_channels"):
        return int(model.in_channels)
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    return None if conv is None else conv.in_channels
