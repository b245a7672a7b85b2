"""Build a backbone from a config: a registered name, a torchvision model name, or any `_target_`."""
from __future__ import annotations

from typing import Any, Callable, Mapping

from torch import nn

from .tiny import TinyCNN
from .torchvision_models import torchvision_model

BACKBONES: dict[str, Callable[..., nn.Module]] = {"tiny_cnn": TinyCNN}


def build_backbone(config: Mapping[str, Any]) -> nn.Module:
    """`{name: tiny_cnn, ...}`, `{name: resnet18, weights: ..., ...}` or `{_target_: pkg.Class, ...}`."""
    config = dict(config)
    if "_target_" in config:
        from hydra.utils import instantiate

        return instantiate(config)
    name = config.pop("name", None)
    if name is None:
        raise ValueError("a backbone config needs `name` (registered or torchvision) or `_target_`")
    if name in BACKBONES:
        return BACKBONES[name](**config)
    return torchvision_model(name, **config)


def input_channels(model: nn.Module) -> int | None:
    """Channels the model expects: its `in_channels` attribute or its first conv's."""
    if hasattr(model, "in_channels"):
        return int(model.in_channels)
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    return None if conv is None else conv.in_channels
