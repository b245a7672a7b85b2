"""The common interface: `Method(model, layer=None, **settings).attribute(x, target=None) -> (B, 1, H, W)`."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import torch
from torch import nn
from torch.nn import functional as F

from ..backbones import resolve_layer
from ..errors import APIError
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


@contextmanager
def forward_hook(module: nn.Module, fn: Callable) -> Iterator[None]:
    """A forward hook that lives exactly for the `with` block (removed in finally, also on errors)."""
    handle = module.register_forward_hook(fn)
    try:
        yield
    finally:
        handle.remove()


class _Stop(Exception):
    """Raised by a hook to skip the rest of the forward pass once the tapped layer has fired."""


def layer_output(model: nn.Module, layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Output of `layer` for input x; the forward stops there and the hook is removed in finally."""
    store: dict[str, torch.Tensor] = {}

    def keep(_module, _inputs, output):
        store["A"] = output
        raise _Stop

    with forward_hook(layer, keep):
        try:
            model(x)
        except _Stop:
            pass
    if "A" not in store:
        raise RuntimeError(f"layer {type(layer).__name__} was not called during the forward pass")
    return store["A"]


def upsample(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of (B, 1, h, w) maps to the input resolution."""
    return maps if maps.shape[-2:] == size else F.interpolate(maps, size=size, mode="bilinear", align_corners=False)


def last_spatial_layer(model: nn.Module, x: torch.Tensor) -> str:
    """The Grad-CAM paper's choice: the last conv layer's output after its batch norm and non-linearity.

    In execution order: the last nn.Conv2d, then the leaf modules after it that keep its resolution
    (e.g. TinyCNN `block3.2`, VGG `features.29`, ResNet `layer4.1.relu`); the pooled maps come later.
    """
    calls: list[tuple[str, nn.Module, tuple[int, ...]]] = []

    def record(name: str):
        def hook(module, _inputs, out):
            if isinstance(out, torch.Tensor) and out.dim() == 4:
                calls.append((name, module, tuple(out.shape[-2:])))
        return hook

    handles = [m.register_forward_hook(record(n)) for n, m in model.named_modules() if n and not list(m.children())]
    try:
        with torch.no_grad():
            model(x[:1])
    finally:
        for h in handles:
            h.remove()
    convs = [i for i, (_, m, _) in enumerate(calls) if isinstance(m, nn.Conv2d)]
    if not convs:
        raise AttributionError(f"{type(model).__name__} has no conv layer with a spatial output; pass layer=...")
    i = convs[-1]
    while i + 1 < len(calls) and calls[i + 1][2] == calls[convs[-1]][2]:
        i += 1
    return calls[i][0]


class Attribution:
    """Base class: holds the model (eval mode) and an optional layer, checks inputs and targets."""

    def __init__(self, model: nn.Module, layer: nn.Module | str | None = None):
        self.model = model.eval()
        self._layer = resolve_layer(model, layer) if isinstance(layer, str) else layer
        if self._layer is not None and not any(m is self._layer for m in model.modules()):
            raise AttributionError(f"layer {type(self._layer).__name__} is not a submodule of {type(model).__name__}")

    def layer(self, x: torch.Tensor) -> nn.Module:
        """The given layer, or the model's last spatial layer when none was given."""
        if self._layer is None:
            self._layer = resolve_layer(self.model, last_spatial_layer(self.model, x))
        return self._layer

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
