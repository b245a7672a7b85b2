"""Ground-truth readouts of generated images: the oracle's class and the analytic colour."""
from __future__ import annotations

import torch
from torch import nn

from ..inference import fast

LUMA = torch.tensor([0.299, 0.587, 0.114])


def color_readout(images: torch.Tensor, palette: torch.Tensor) -> torch.Tensor:
    """Nearest palette index to the mean RGB of pixels with at least half the image's peak luminance."""
    luma = (images * LUMA.to(images)[None, :, None, None]).sum(1)  # (B, 3, H, W) -> (B, H, W)
    bright = (luma >= 0.5 * luma.flatten(1).amax(1)[:, None, None]).float()[:, None]  # (B, 1, H, W)
    mean_rgb = (images * bright).sum((2, 3)) / bright.sum((2, 3)).clamp_min(1)  # (B, 3)
    return torch.cdist(mean_rgb, palette.to(images)).argmin(1)


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
