"""FeatureExtractor: tap any set of layers of a frozen model by their dotted module names."""
from __future__ import annotations

import torch
from torch import nn

from ..errors import LayerError


class UnknownLayerError(LayerError):
    """A layer name that the model does not have; the message lists the valid ones."""


class _Stop(Exception):
    """Raised by the last hook to skip the rest of the forward pass."""


def list_layers(model: nn.Module) -> list[str]:
    """Dotted names of every submodule (the names FeatureExtractor accepts)."""
    return [name for name, _ in model.named_modules() if name]


def resolve_layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule called `name`, or a clear error listing the valid names."""
    modules = dict(model.named_modules())
    if not name or name not in modules:
        names = list_layers(model)
        shown = ", ".join(names[:60]) + (f", ... ({len(names)} in all)" if len(names) > 60 else "")
        raise UnknownLayerError(f"model {type(model).__name__} has no layer {name!r}; valid layers: {shown}")
    return modules[name]


class FeatureExtractor(nn.Module):
    """Returns {layer name: output tensor} for the requested layers of a frozen, eval-locked model.

    Hooks live only for the duration of a forward call and are removed in `finally`, also when
    the forward raises. The forward stops after the last requested layer has fired.
    """

    def __init__(self, model: nn.Module, layers: list[str] | tuple[str, ...] | str):
        super().__init__()
        self.layers = [layers] if isinstance(layers, str) else list(layers)
        if not self.layers:
            raise ValueError("FeatureExtractor needs at least one layer")
        self.modules_ = {name: resolve_layer(model, name) for name in self.layers}
        self.model = model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    def train(self, mode: bool = True) -> "FeatureExtractor":
        """Stays in eval mode whatever `mode` is: the model under study is frozen."""
        return super().train(False)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}

        def hook_for(name: str):
            def hook(_module, _inputs, output):
                out[name] = output
                if len(out) == len(self.layers):
                    raise _Stop
            return hook

        handles = [m.register_forward_hook(hook_for(n)) for n, m in self.modules_.items()]
        try:
            self.model(x)
        except _Stop:
            pass
        finally:
            for h in handles:
                h.remove()
        missing = [n for n in self.layers if n not in out]
        if missing:
            raise RuntimeError(f"layers {missing} were not called during the forward pass")
        return {n: out[n] for n in self.layers}
