"""Input checks shared by every Interpreter method: each mistake is one APIError line that names the method.

Images: a torch tensor or numpy array (B, C, H, W) with B >= 1, float in [0, 1] or uint8 in 0..255
(divided by 255); float64/float16 become float32. A single image (C, H, W) is refused with the hint
`x[None]`, because batching it silently would change the shape of what comes back.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from ..errors import APIError

SLACK = 1e-4  # float rounding of an image pipeline may step this far outside [0, 1]; clamped back


def _as_tensor(method: str, name: str, value: Any) -> torch.Tensor:
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    if not isinstance(value, torch.Tensor):
        raise APIError(f"{method}: {name} must be a torch tensor or numpy array, got {type(value).__name__}")
    return value


def _float_images(method: str, name: str, x: torch.Tensor) -> torch.Tensor:
    """uint8 -> x / 255; any float -> float32; other dtypes are refused (their scale is unknown)."""
    if x.dtype == torch.uint8:
        return x.float() / 255
    if not x.is_floating_point():
        raise APIError(f"{method}: {name} has dtype {x.dtype}; pass float images in [0, 1] or uint8 in 0..255")
    return x.float()


def _shape_hint(x: torch.Tensor, expected: tuple[int, int, int]) -> str:
    if x.ndim == 3 and tuple(x.shape) == expected:
        return "; for a single image pass x[None]"
    if x.ndim == 4 and (x.shape[3], x.shape[1], x.shape[2]) == expected:
        return "; the channels come last: pass x.permute(0, 3, 1, 2)"
    return ""


def images(method: str, name: str, x: Any, expected: tuple[int, int, int],
           device: torch.device | str) -> torch.Tensor:
    """x as float32 images (B, C, H, W) in [0, 1] on `device`, or an APIError naming method and argument."""
    x = _as_tensor(method, name, x)
    if x.ndim != 4 or tuple(x.shape[1:]) != expected:
        shape = f"(B, {', '.join(map(str, expected))})"
        raise APIError(f"{method}: {name} must be images {shape}, got shape {tuple(x.shape)}{_shape_hint(x, expected)}")
    if len(x) == 0:
        raise APIError(f"{method}: {name} is an empty batch (0 images); pass at least one image")
    x = _float_images(method, name, x)
    bad = ~torch.isfinite(x.flatten(1)).all(1)  # (B, C, H, W) -> (B, C*H*W) -> (B,)
    if bad.any():
        raise APIError(f"{method}: {name} contains NaN or inf in {int(bad.sum())} image(s) "
                       f"(first indices {bad.nonzero()[:5, 0].tolist()})")
    lo, hi = x.min().item(), x.max().item()
    if lo < -SLACK or hi > 1 + SLACK:
        raise APIError(f"{method}: {name} must be in [0, 1], got values in [{lo:.4g}, {hi:.4g}]; "
                       "divide 0..255 pixel values by 255")
    return x.clamp(0, 1).to(device)


def paired(method: str, x: torch.Tensor, y: torch.Tensor, x_name: str = "x", y_name: str = "y") -> None:
    """y is paired one to one with x: image i of x goes with image i of y."""
    if len(y) != len(x):
        raise APIError(f"{method}: {y_name} has {len(y)} images but {x_name} has {len(x)}; "
                       f"they are paired one to one, so len({y_name}) must equal len({x_name})")


def count(method: str, name: str, value: Any) -> int:
    """An integer >= 1 (n, steps)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise APIError(f"{method}: {name} must be an integer >= 1, got {value!r}")
    return int(value)


def labels(method: str, value: Any, batch: int, num_classes: int, device: torch.device | str) -> torch.Tensor:
    """Class labels (B,) as int64 in [0, num_classes)."""
    t = torch.as_tensor(np.asarray(value) if isinstance(value, (list, tuple)) else _as_tensor(method, "labels", value))
    if t.is_floating_point() or t.dtype == torch.bool or t.ndim != 1 or len(t) != batch:
        raise APIError(f"{method}: labels must be {batch} integer class labels (one per image), "
                       f"got {t.dtype} of shape {tuple(t.shape)}")
    bad = (t < 0) | (t >= num_classes)
    if bad.any():
        i = int(bad.nonzero()[0, 0])
        raise APIError(f"{method}: labels must be in [0, {num_classes}) for this run's {num_classes} classes, "
                       f"got {int(t[i])} at index {i}")
    return t.long().to(device)


def vector(method: str, what: str, value: Any, dim: int, batch: int, device: torch.device | str) -> torch.Tensor:
    """A code (dim,) for every image or (B, dim) one per image, as float32 (B, dim); `what` names it."""
    t = _as_tensor(method, what, value)
    if not (t.ndim == 1 and len(t) == dim) and tuple(t.shape) != (batch, dim):
        raise APIError(f"{method}: {what} must have shape ({dim},) or ({batch}, {dim}), got {tuple(t.shape)}")
    if not t.is_floating_point() or not torch.isfinite(t).all():
        raise APIError(f"{method}: {what} must be finite floats, got dtype {t.dtype}")
    return t.float().to(device).expand(batch, dim)


def one_of(method: str, name: str, value: str, allowed: Sequence[str], what: str) -> str:
    """value in allowed, else an error listing them (`what` says what the list is)."""
    if value not in allowed:
        raise APIError(f"{method}: {name} {value!r} is not one of {what}: {list(allowed)}")
    return value


def device(method: str, value: torch.device | str) -> torch.device:
    """A torch device this machine has."""
    try:
        dev = torch.device(value)
    except (RuntimeError, TypeError):
        raise APIError(f"{method}: device {value!r} is not a torch device; e.g. 'cpu' or 'cuda'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise APIError(f"{method}: device {value!r} asked for, but torch sees no CUDA device here; use 'cpu'")
    return dev
