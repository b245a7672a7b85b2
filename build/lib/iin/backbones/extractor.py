"""FeatureExtractor: tap any set of layers of a frozen model by name (see `taps` for the name syntax)."""
from __future__ import annotations

import torch
from torch import nn

from .taps import read, tap


class FeatureExtractor(nn.Module):
    """Returns {layer name: tensor} for the requested layers of a frozen, eval-locked model.

    Names are dotted module names, optionally with an element of a structured output (`attn:0`) and a
    token reduction (`encoder.layers.encoder_layer_1#cls`). Hooks live only for the duration of a forward
    call and are removed in `finally`, also when the forward raises. The forward stops after the last
    requested layer has fired.
    """

    def __init__(self, model: nn.Module, layers: list[str] | tuple[str, ...] | str):
        super().__init__()
        self.layers = [layers] if isinstance(layers, str) else list(layers)
        if not self.layers:
            raise ValueError("FeatureExtractor needs at least one layer")
        self.taps = [tap(model, name) for name in self.layers]
        self.model = model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    def train(self, mode: bool = True) -> "FeatureExtractor":
        """Stays in eval mode whatever `mode` is: the model under study is frozen."""
        return super().train(False)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return read(self.model, self.taps, x)
