"""Gradient maps through captum: Saliency (Simonyan et al. 2014) and Guided Backprop (Springenberg et al. 2015)."""
from __future__ import annotations

import torch
from captum.attr import GuidedBackprop as _CaptumGuidedBackprop
from captum.attr import Saliency as _CaptumSaliency

from .base import Attribution


def max_abs_over_channels(grads: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, 1, H, W): the largest |value| over colour channels (Simonyan et al.)."""
    return grads.abs().amax(dim=1, keepdim=True)


class Saliency(Attribution):
    """|d score_c / d x|, maximised over colour channels."""

    def _attribute(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        grads = _CaptumSaliency(self.model).attribute(x, target=target, abs=True)  # (B, C, H, W)
        return max_abs_over_channels(grads)


class GuidedBackprop(Attribution):
    """Gradients in which every ReLU passes back only positive gradients of positive inputs."""

    def per_channel(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The guided gradient itself, (B, C, H, W)."""
        return _CaptumGuidedBackprop(self.model).attribute(x, target=target)

    def _attribute(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return max_abs_over_channels(self.per_channel(x, target))
