"""Ground-truth readouts of generated images: the oracle's class, the analytic colour, and on shapes the
object's position and scale from its brightness mask.

Shapes' rotation has no readout: the square looks the same at 0 and 90 degrees (and 15 and 105), and the
remaining angles (15 degree steps) would need fragile higher-order moments of blurry decoded masks.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from ..data import palette as make_palette
from ..data.shapes import mask_areas, positions
from ..inference import fast

LUMA = torch.tensor([0.299, 0.587, 0.114])


def bright_mask(images: torch.Tensor) -> torch.Tensor:
    """Pixels (B, 1, H, W) with at least half the image's peak luminance: the object on a dark background."""
    luma = (images * LUMA.to(images)[None, :, None, None]).sum(1)  # (B, 3, H, W) -> (B, H, W)
    return (luma >= 0.5 * luma.flatten(1).amax(1)[:, None, None]).float()[:, None]


def color_readout(images: torch.Tensor, palette: torch.Tensor) -> torch.Tensor:
    """Nearest palette index to the mean RGB of pixels with at least half the image's peak luminance."""
    bright = bright_mask(images)  # (B, 1, H, W)
    mean_rgb = (images * bright).sum((2, 3)) / bright.sum((2, 3)).clamp_min(1)  # (B, 3)
    return torch.cdist(mean_rgb, palette.to(images)).argmin(1)


def centroid(images: torch.Tensor) -> torch.Tensor:
    """Centre (B, 2) in pixel coordinates (x, y) of the bright mask; pixel i covers [i, i + 1)."""
    mask = bright_mask(images)[:, 0]  # (B, H, W)
    h, w = mask.shape[-2:]
    ys = torch.arange(h, dtype=mask.dtype, device=mask.device) + 0.5
    xs = torch.arange(w, dtype=mask.dtype, device=mask.device) + 0.5
    area = mask.sum((1, 2)).clamp_min(1)
    return torch.stack([(mask.sum(1) * xs).sum(1) / area, (mask.sum(2) * ys).sum(1) / area], dim=1)


def centroid_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Distance in pixels (B,) between the bright-mask centroids of images a and b (e.g. an image and its
    reconstruction): position error without rounding to factor levels."""
    return (centroid(a) - centroid(b)).norm(dim=1)


def position_readout(images: torch.Tensor) -> dict[str, torch.Tensor]:
    """{'x', 'y'}: the nearest shapes position level (B,) to the bright mask's centroid."""
    levels = positions(images.shape[-1]).to(images)
    c = centroid(images)
    return {axis: (c[:, i, None] - levels).abs().argmin(1) for i, axis in enumerate("xy")}


def scale_readout(images: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
    """The shapes scale level (B,) whose area for the given shape index (B,) is nearest in log to the bright
    mask's area: area alone confuses a small square with a larger triangle, so the shape readout comes in."""
    area = bright_mask(images).sum((1, 2, 3)).clamp_min(1)  # (B,)
    ref = mask_areas(images.shape[-1]).to(images)[shape.to(images.device)]  # (B, N_SCALES)
    return (area.log()[:, None] - ref.log()).abs().argmin(1)


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Class predictions of a frozen `model` (eval mode, fast copy) for images (N, C, H, W), in batches."""
    forward = fast(model.eval(), images[:batch_size])
    return torch.cat([forward(chunk).argmax(1) for chunk in images.split(batch_size)])


def readouts(images: torch.Tensor, oracle: nn.Module | None, palette: torch.Tensor | None,
             label: str = "digit") -> dict[str, torch.Tensor]:
    """{label: oracle prediction (when an oracle is given), 'color': analytic colour index (when a palette is
    known)} per image.

    `label` names the factor the oracle was trained on (the dataset's label: `digit`, `shape`, ...).
    """
    out = {} if oracle is None else {label: predict(oracle, images)}
    if palette is not None:
        out["color"] = color_readout(images, palette)
    return out


def data_readouts(images: torch.Tensor, oracle: nn.Module | None, data: Mapping[str, Any],
                  label: str) -> dict[str, torch.Tensor]:
    """Every readout the dataset `data` (a `data` config: name, options) supports: the oracle's label (an oracle
    is given), the colour (a palette is known), and on shapes x, y and scale (scale needs the oracle's shape)."""
    opts = data.get("options") or {}
    out = readouts(images, oracle, make_palette(opts["n_colors"]) if "n_colors" in opts else None, label)
    if data.get("name") == "shapes":
        out.update(position_readout(images))
        if label in out:
            out["scale"] = scale_readout(images, out[label])
    return out
