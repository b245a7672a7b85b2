"""Any torchvision classification model by name, with weights from nowhere, the local cache or a file."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..checkpoint import CheckpointError, load_state


def _cached_weights_file(weights_name: str) -> Path:
    """Resolve 'ResNet18_Weights.IMAGENET1K_V1' (or 'DEFAULT') to its file in the local torch cache."""
    from torchvision.models import get_weight

    try:
        weights = get_weight(weights_name)
    except (ValueError, KeyError, AttributeError) as err:
        raise ValueError(f"unknown torchvision weights {weights_name!r} ({err})") from None
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if not path.is_file():
        raise FileNotFoundError(
            f"weights {weights_name} are not in the local torch cache ({path}); iin never downloads. "
            f"Copy the file there from a machine with internet ({weights.url}), or pass a local file as weights=...")
    return path


def torchvision_model(name: str, weights: str | None = None, num_classes: int | None = None,
                      in_channels: int = 3) -> nn.Module:
    """torchvision model `name`; `weights` is None, a weights name (e.g. ResNet18_Weights.DEFAULT) or a file."""
    import torchvision

    available = torchvision.models.list_models(module=torchvision.models)
    if name not in available:
        raise ValueError(f"unknown torchvision classification model {name!r}; available: {', '.join(available)}")
    kwargs = {} if num_classes is None else {"num_classes": num_classes}
    model = torchvision.models.get_model(name, weights=None, **kwargs)
    if weights:
        path = Path(weights).expanduser() if Path(weights).expanduser().is_file() else _cached_weights_file(weights)
        state = load_state(path)
        state = state.get("state_dict", state)
        try:
            model.load_state_dict(state)
        except RuntimeError as err:
            raise CheckpointError(f"weights in {path} do not fit {name} (num_classes={num_classes}): {err}") from None
    model.in_channels = in_channels
    return model
