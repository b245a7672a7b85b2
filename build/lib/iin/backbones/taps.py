"""The one layer tap: read a layer's output, read it with gradients, or replace it (Psi_l(z*)).

A layer name is `<module>[:<element>]...[#cls|#mean]`:
- `<module>`: a dotted module name (`encoder.layers.encoder_layer_1`);
- `:<element>`: picks a tensor out of an output that is not one (tuple/list index, dict key, field of a
  namedtuple, dataclass or HuggingFace output object): `attn:0`, `block:logits`, `pair:0:hidden`;
- `#cls` / `#mean`: token outputs (B, N, D) reduced to (B, D) by the class token or the mean patch token.

FeatureExtractor, the attribution methods and the editing hook all go through here. Hooks live only for
one forward call and are removed in `finally`, also when the forward raises.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import nn

from ..errors import LayerError
from .outputs import put_back, select
from .tokens import REDUCTIONS, reduce_tokens, write_tokens


class UnknownLayerError(LayerError):
    """A layer name that the model does not have; the message lists the valid ones."""


class _Stop(Exception):
    """Raised by the last hook to skip the rest of the forward pass."""


def list_layers(model: nn.Module) -> list[str]:
    """Dotted names of every submodule (the module part of the names a tap accepts)."""
    return [name for name, _ in model.named_modules() if name]


def resolve_layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule called `name`, or a clear error listing the valid names."""
    modules = dict(model.named_modules())
    if not name or name not in modules:
        names = list_layers(model)
        shown = ", ".join(names[:60]) + (f", ... ({len(names)} in all)" if len(names) > 60 else "")
        raise UnknownLayerError(f"model {type(model).__name__} has no layer {name!r}; valid layers: {shown}")
    return modules[name]


@dataclass(frozen=True, eq=False)
class Tap:
    """One tapped layer of a model: the module, an element path into its output and a token reduction."""

    name: str  # as written, e.g. "encoder.layers.encoder_layer_1#cls"
    module: nn.Module
    element: tuple[str, ...] = ()
    tokens: str | None = None  # "cls", "mean" or None

    def read(self, output: Any) -> torch.Tensor:
        """The tapped tensor of the module's output: (B, ...), or (B, D) with a token reduction."""
        value = select(output, self.element, self.name)
        return reduce_tokens(value, self.tokens, self.name) if self.tokens else value

    def write(self, output: Any, value: torch.Tensor) -> Any:
        """The module's output with the tapped tensor replaced by value (shaped like `read`'s result or flat)."""
        current = select(output, self.element, self.name)
        if self.tokens:
            new = write_tokens(current, value, self.tokens, self.name)
        else:
            new = value.reshape(current.shape).to(current)  # flat (B, C*H*W) -> (B, C, H, W)
        return put_back(output, self.element, new)


def tap(model: nn.Module, layer: "str | nn.Module | Tap") -> Tap:
    """Parse `<module>[:<element>]...[#cls|#mean]` against model (or wrap a submodule given as such)."""
    if isinstance(layer, Tap):
        return layer
    if isinstance(layer, nn.Module):
        name = next((n for n, m in model.named_modules() if m is layer), None)
        if name is None:
            raise LayerError(f"layer {type(layer).__name__} is not a submodule of {type(model).__name__}")
        return Tap(name or type(layer).__name__, layer)
    spec, _, reduction = str(layer).partition("#")
    if reduction and reduction not in REDUCTIONS:
        raise LayerError(f"layer {layer!r}: unknown token reduction '#{reduction}'; use "
                         + " or ".join(f"'#{r}'" for r in REDUCTIONS))
    module, *element = spec.split(":")
    return Tap(str(layer), resolve_layer(model, module), tuple(element), reduction or None)


@contextmanager
def hooks(pairs: Sequence[tuple[nn.Module, Callable]]) -> Iterator[None]:
    """Forward hooks that live exactly for the `with` block (removed in finally, also on errors)."""
    handles = [module.register_forward_hook(fn) for module, fn in pairs]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def read(model: nn.Module, taps: Sequence[Tap], x: torch.Tensor) -> dict[str, torch.Tensor]:
    """{tap name: tensor} for input x; the forward stops once every tapped layer has fired."""
    out: dict[str, torch.Tensor] = {}
    wanted = len({t.name for t in taps})

    def hook_for(t: Tap) -> Callable:
        def hook(_module, _inputs, output):
            out[t.name] = t.read(output)
            if len(out) == wanted:
                raise _Stop
        return hook

    with hooks([(t.module, hook_for(t)) for t in taps]):
        try:
            model(x)
        except _Stop:
            pass
    missing = [t.name for t in taps if t.name not in out]
    if missing:
        raise RuntimeError(f"layers {missing} were not called during the forward pass")
    return {t.name: out[t.name] for t in taps}


def forward_with_leaf(model: nn.Module, layer: "str | nn.Module | Tap", x: torch.Tensor) -> tuple[Any, torch.Tensor]:
    """(model output, A): the tapped value A becomes a leaf that requires grad and the forward continues from
    it, so torch.autograd.grad(score(output), A) is the gradient at the layer, even for a frozen model."""
    t, store = tap(model, layer), {}

    def hook(_module, _inputs, output):
        store["A"] = t.read(output).detach().requires_grad_(True)
        return t.write(output, store["A"].clone())  # a clone: later in-place ops (ReLU, +=) must not hit the leaf

    with hooks([(t.module, hook)]), torch.enable_grad():
        y = model(x)
    if "A" not in store:
        raise RuntimeError(f"layer {t.name!r} was not called during the forward pass")
    return y, store["A"]


def forward_from(model: nn.Module, layer: "str | nn.Module | Tap", x: torch.Tensor, z_star: torch.Tensor) -> Any:
    """Psi_l(z*): the model's output on x when layer l's tapped value is replaced by z* (flat or shaped)."""
    t = tap(model, layer)
    with hooks([(t.module, lambda _m, _i, output: t.write(output, z_star))]):
        return model(x)
