"""The common interface: `Method(model, layer=None, **settings).attribute(x, target=None) -> (B, 1, H, W)`."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from ..backbones import Tap, UnknownLayerError, read, tap, tokens_to_grid
from ..backbones.taps import hooks
from ..errors import APIError, LayerError
from ..inference import frozen, signature


class AttributionError(APIError):
    """A user mistake (wrong input shape, target index or layer); the message says what to do."""


def first_conv(model: nn.Module) -> nn.Conv2d | None:
    return next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)


def check_input(model: nn.Module, x: torch.Tensor) -> None:
    """Raise a clear error unless x is an image batch (B, C, H, W) with the model's channel count."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise AttributionError(f"expected an image batch (B, C, H, W), got {shape}; add a batch dim with x[None]")
    conv = first_conv(model)
    if conv is not None and x.shape[1] != conv.in_channels:
        raise AttributionError(f"input has {x.shape[1]} channels but the model's first conv expects "
                               f"{conv.in_channels}: got shape {tuple(x.shape)}")


def check_target(target: torch.Tensor, n_outputs: int, what: str = "class") -> None:
    """Raise a clear error for a target index outside [0, n_outputs)."""
    bad = (target < 0) | (target >= n_outputs)
    if bad.any():
        raise AttributionError(f"target {what} index {target[bad][0].item()} is out of range: the model has "
                               f"{n_outputs} {what}es/outputs (valid 0..{n_outputs - 1})")


def as_target(target: int | torch.Tensor | None, batch: int, device: torch.device) -> torch.Tensor | None:
    """A (B,) LongTensor from an int, a sequence or a tensor; None stays None (use the prediction)."""
    if target is None:
        return None
    t = torch.as_tensor(target, device=device).long().reshape(-1)
    if t.numel() == 1:
        t = t.expand(batch)
    if t.numel() != batch:
        raise AttributionError(f"got {t.numel()} targets for a batch of {batch}; give one int or one per image")
    return t


def layer_output(model: nn.Module, layer: Tap, x: torch.Tensor, method: str = "this method") -> torch.Tensor:
    """The tapped layer's activations for input x, as maps: tokens (B, N, D) come back as a patch grid
    (B, D, h, w), like a CNN's (B, K, h, w). The forward stops at the layer."""
    return as_map(read(model, [layer], x)[layer.name], layer, method)


def as_map(a: torch.Tensor, layer: Tap, method: str) -> torch.Tensor:
    """Token activations (B, N, D) -> (B, D, h, w) (class token dropped); anything else unchanged."""
    if a.dim() != 3:
        return a
    try:
        return tokens_to_grid(a, f"the tokens of layer {layer.name!r}")
    except LayerError as err:
        raise AttributionError(f"{method} needs a spatial map, but {err}; choose a layer with a patch grid") from None


def upsample(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of (B, 1, h, w) maps to the input resolution."""
    return maps if maps.shape[-2:] == size else F.interpolate(maps, size=size, mode="bilinear", align_corners=False)


def _leaf_calls(model: nn.Module, x: torch.Tensor) -> list[tuple[str, nn.Module, tuple[int, ...]]]:
    """(name, module, output shape) of every leaf module whose output is a map or tokens, in execution order."""
    calls: list[tuple[str, nn.Module, tuple[int, ...]]] = []

    def record(name: str):
        def hook(module, _inputs, out):
            if isinstance(out, torch.Tensor) and out.dim() in (3, 4):
                calls.append((name, module, tuple(out.shape)))
        return hook

    leaves = [(m, record(n)) for n, m in model.named_modules() if n and not list(m.children())]
    with hooks(leaves), torch.no_grad():
        model(x[:1])
    return calls


def _last_block_norm(calls: list[tuple[str, nn.Module, tuple[int, ...]]]) -> str | None:
    """ViTs: the first LayerNorm of the last transformer block (pytorch-grad-cam's `blocks[-1].norm1`;
    torchvision `encoder.layers.encoder_layer_{L-1}.ln_1`). Its gradient reaches every patch token through
    the block's attention; the final norm's reaches only the class token."""
    norms = [n for n, m, shape in calls if isinstance(m, nn.LayerNorm) and len(shape) == 3]
    parents = [n.rpartition(".")[0] for n in norms]
    blocks = [p for p in dict.fromkeys(parents) if parents.count(p) >= 2]  # a block has norm1 and norm2
    return norms[parents.index(blocks[-1])] if blocks else None


def last_spatial_layer(model: nn.Module, x: torch.Tensor) -> str:
    """The Grad-CAM paper's choice: the last conv layer's output after its batch norm and non-linearity.

    In execution order: the last nn.Conv2d, then the leaf modules after it that keep its resolution
    (e.g. TinyCNN `block3.2`, VGG `features.29`, ResNet `layer4.1.relu`); the pooled maps come later.
    Transformers get their last block's first LayerNorm instead (see `_last_block_norm`).
    """
    calls = _leaf_calls(model, x)
    block_norm = _last_block_norm(calls)
    if block_norm is not None:
        return block_norm
    calls = [c for c in calls if len(c[2]) == 4]
    convs = [i for i, (_, m, _) in enumerate(calls) if isinstance(m, nn.Conv2d)]
    if not convs:
        raise AttributionError(f"{type(model).__name__} has no conv layer with a spatial output; pass layer=...")
    i = convs[-1]
    while i + 1 < len(calls) and calls[i + 1][2][-2:] == calls[convs[-1]][2][-2:]:
        i += 1
    return calls[i][0]


class Attribution:
    """Base class: holds the model (eval mode) and an optional layer, checks inputs and targets.

    `layer` is a submodule or a tap name (`block3`, `attn:0`, see iin.backbones.taps); None picks
    `last_spatial_layer` at the first call.
    """

    def __init__(self, model: nn.Module, layer: nn.Module | str | None = None):
        self.model = model.eval()
        try:
            self._tap = None if layer is None else tap(model, layer)
        except UnknownLayerError:
            raise
        except LayerError as err:
            raise AttributionError(str(err)) from None

    def tap(self, x: torch.Tensor) -> Tap:
        """The given layer's tap, or the default layer's (`last_spatial_layer`) when none was given."""
        if self._tap is None:
            self._tap = tap(self.model, last_spatial_layer(self.model, x))
        return self._tap

    def layer(self, x: torch.Tensor) -> nn.Module:
        """The tapped module (the default layer when none was given)."""
        return self.tap(x).module

    def inference(self, x: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        """The fast no-grad forward for inputs shaped like x (built once per input shape)."""
        key = signature(x)
        if getattr(self, "_frozen_key", None) != key:
            self._frozen, self._frozen_key = frozen(self.model, x), key
        return self._frozen

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def prepare(self, x: torch.Tensor, target) -> tuple[torch.Tensor, torch.Tensor]:
        """Check x, and return (x detached, target (B,)): the predicted class when target is None."""
        check_input(self.model, x)
        x = x.detach()
        t = as_target(target, x.shape[0], x.device)
        key = tuple(x.shape[1:])
        if t is None or getattr(self, "_n_outputs", (None,))[0] != key:  # a forward only when needed
            with torch.no_grad():
                out = self.logits(x)  # (B, classes)
            self._n_outputs = (key, out.shape[1])
            t = out.argmax(1) if t is None else t
        check_target(t, self._n_outputs[1])
        return x, t

    def attribute(self, x: torch.Tensor, target: int | torch.Tensor | None = None) -> torch.Tensor:
        """Raw attribution maps (B, 1, H, W) at input resolution for `target` (default: the prediction)."""
        x, t = self.prepare(x, target)
        return self._attribute(x, t)

    def _attribute(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({type(self.model).__name__})"
