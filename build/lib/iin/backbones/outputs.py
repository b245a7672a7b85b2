"""Layer outputs that are not a plain tensor: tuples, lists, dicts, namedtuples, dataclasses and
HuggingFace-style output objects (a dataclass that is also a dict, with `last_hidden_state` etc.).

An element path (`("0",)`, `("logits",)`, `("0", "hidden")`) picks one tensor out of such an output;
`put_back` writes a replacement into a copy of the same structure, so the rest of the forward sees the
type it expects.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import torch

from ..errors import LayerError


def _is_namedtuple(out: Any) -> bool:
    return isinstance(out, tuple) and hasattr(out, "_fields")


def elements(out: Any) -> dict[str, Any]:
    """{element name: value} of a structured output (empty for anything else)."""
    if isinstance(out, Mapping):
        return {str(k): v for k, v in out.items()}
    if _is_namedtuple(out):
        return dict(zip(out._fields, out))
    if isinstance(out, (tuple, list)):
        return {str(i): v for i, v in enumerate(out)}
    if dataclasses.is_dataclass(out) and not isinstance(out, type):
        return {f.name: getattr(out, f.name) for f in dataclasses.fields(out)}
    return {}


def _kind(out: Any) -> str:
    if isinstance(out, Mapping) and not dataclasses.is_dataclass(out):
        return "a dict"
    return "a namedtuple" if _is_namedtuple(out) else f"a {type(out).__name__}"


def shape_text(t: torch.Tensor) -> str:
    """'(B, 16, 8, 8)': the shape with the batch dimension written as B."""
    return "(" + ", ".join(["B", *map(str, t.shape[1:])]) + ")" if t.dim() else "()"


def choices(out: Any, prefix: str) -> list[str]:
    """'prefix:name (B, ...)' for every tensor element, nested structures included."""
    found = []
    for name, value in elements(out).items():
        if isinstance(value, torch.Tensor):
            found.append(f"{prefix}:{name} {shape_text(value)}")
        else:
            found += choices(value, f"{prefix}:{name}")
    return found


def _choose(out: Any, name: str, where: str) -> Any:
    items = elements(out)
    if name in items:
        return items[name]
    if isinstance(out, (tuple, list)) and name.lstrip("-").isdigit() and -len(out) <= int(name) < len(out):
        return out[int(name)]  # negative indices, and indices into namedtuples
    options = ", ".join(choices(out, where)) or "none"
    raise LayerError(f"layer {where!r} has no element {name!r}; pick one of: {options}")


def select(out: Any, path: tuple[str, ...], layer: str) -> torch.Tensor:
    """The tensor at `path` inside `out`; a one-line LayerError naming the choices when that is not a tensor."""
    where = layer.split("#")[0].split(":")[0]
    for name in path:
        if isinstance(out, torch.Tensor):
            raise LayerError(f"layer {where!r} outputs a tensor {shape_text(out)}, not a structure: drop ':{name}'")
        out = _choose(out, name, where)
        where = f"{where}:{name}"
    if isinstance(out, torch.Tensor):
        return out
    options = choices(out, where)
    if not options:
        raise LayerError(f"layer {where!r} outputs {_kind(out)} without tensors; tap another layer")
    count = f"{len(options)} tensor" + ("s" if len(options) > 1 else "")
    raise LayerError(f"layer {where!r} outputs {_kind(out)} of {count}; pick one: {', '.join(options)}")


def _replaced(out: Any, name: str, value: Any) -> Any:
    """A copy of `out` with element `name` set to value (same type)."""
    fields = {f.name for f in dataclasses.fields(out)} if dataclasses.is_dataclass(out) else set()
    if name in fields:  # also HuggingFace outputs (dataclass and dict at once): rebuilt through their fields
        return dataclasses.replace(out, **{name: value})
    if isinstance(out, Mapping):
        key = next(k for k in out if str(k) == name)
        copy = dict(out) if type(out) is dict else type(out)(out)
        copy[key] = value
        return copy
    if _is_namedtuple(out):
        field = name if name in out._fields else out._fields[int(name)]
        return out._replace(**{field: value})
    items = list(out)
    items[int(name)] = value
    return items if isinstance(out, list) else type(out)(items)


def put_back(out: Any, path: tuple[str, ...], value: torch.Tensor) -> Any:
    """`out` with the tensor at `path` replaced by value, in the same structure."""
    if not path:
        return value
    inner = _choose(out, path[0], "")
    return _replaced(out, path[0], put_back(inner, path[1:], value))
