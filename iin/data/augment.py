"""Training-batch augmentation for the classifier stages (`classifier.augment`, `oracle.augment`)."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn


class EachImage(nn.Module):
    """`transform` applied to every image of a batch on its own. torchvision's v2 transforms draw one set of
    parameters per call, so on a batch tensor RandomApply blurs all images or none: BatchNorm's running statistics
    then follow whichever kind of batch came last, and the eval-mode network reads the other kind badly."""

    def __init__(self, transform: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        self.transform = transform

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.transform(image) for image in images])
