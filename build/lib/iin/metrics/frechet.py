"""Frechet distance of image sets in the feature space of a frozen network (the oracle's penultimate layer).

Inception weights cannot be downloaded here, so this is torchmetrics' FID with a custom feature
module: numbers are comparable between runs of this toolkit, not with published FID values.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance

from ..backbones import FeatureExtractor


class OracleFeatures(nn.Module):
    """Flat features of one layer of a frozen network, for any input torchmetrics hands it.

    uint8 images in [0, 255] are rescaled to [0, 1], float images are taken as [0, 1]; both are
    resized to `size` (torchmetrics probes with a (1, 3, 299, 299) tensor to count the features).
    """

    def __init__(self, oracle: nn.Module, layer: str = "penultimate", size: int = 32):
        super().__init__()
        self.extractor = FeatureExtractor(oracle, layer)
        self.layer, self.size = layer, size

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
        if x.shape[-2:] != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
        with torch.no_grad():
            z = self.extractor(x)[self.layer]
        return z.flatten(1)  # (B, ...) -> (B, D)


def _feed(metric: FrechetInceptionDistance, images: torch.Tensor, real: bool, batch_size: int) -> None:
    for chunk in images.split(batch_size):
        metric.update(chunk.float().clamp(0, 1), real=real)


@torch.no_grad()
def frechet_distance(real: torch.Tensor, fake: torch.Tensor, features: nn.Module, batch_size: int = 500) -> float:
    """FD between image sets (N, C, H, W) in [0, 1] in the space of `features` (deterministic, float64 statistics)."""
    if real.shape[0] < 2 or fake.shape[0] < 2:
        raise ValueError(f"Frechet distance needs at least 2 images per set, got {real.shape[0]} and {fake.shape[0]}")
    metric = FrechetInceptionDistance(feature=features, normalize=True, reset_real_features=False)
    _feed(metric, real, True, batch_size)
    _feed(metric, fake, False, batch_size)
    return max(0.0, float(metric.compute()))


class FrechetReference:
    """The real set's feature statistics computed once, then compared with any number of fake sets."""

    def __init__(self, real: torch.Tensor, features: nn.Module, batch_size: int = 500):
        self.metric = FrechetInceptionDistance(feature=features, normalize=True, reset_real_features=False)
        self.batch_size = batch_size
        with torch.no_grad():
            _feed(self.metric, real, True, batch_size)

    @torch.no_grad()
    def distance(self, fake: torch.Tensor) -> float:
        """FD of `fake` (N, C, H, W) in [0, 1] to the reference set."""
        self.metric.reset()  # keeps the real statistics (reset_real_features=False)
        _feed(self.metric, fake, False, self.batch_size)
        return max(0.0, float(self.metric.compute()))
