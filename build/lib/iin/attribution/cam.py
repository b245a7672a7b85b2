"""Class activation maps: Grad-CAM (Selvaraju et al. 2017), HiResCAM (Draelos & Carin 2020), Guided Grad-CAM."""
from __future__ import annotations

import torch
from torch import nn

from ..backbones import Tap, forward_with_leaf
from .base import Attribution, AttributionError, as_map, upsample
from .gradient import GuidedBackprop, max_abs_over_channels


def layer_activations_and_grads(model: nn.Module, layer: Tap, x: torch.Tensor, target: torch.Tensor,
                                method: str = "Grad-CAM") -> tuple[torch.Tensor, torch.Tensor]:
    """A = layer(x) (B, K, h, w) and dy^c/dA for the target scores y^c; hooks removed in finally.

    Token layers (B, N, D) are laid out as a patch grid (B, D, h, w) after the gradient is taken, the
    class token dropped (the reshape_transform convention of pytorch-grad-cam and torch-cam).
    """
    logits, activations = forward_with_leaf(model, layer, x)
    score = logits.gather(1, target[:, None]).sum()
    (grads,) = torch.autograd.grad(score, activations)
    activations, grads = as_map(activations.detach(), layer, method), as_map(grads, layer, method)
    if activations.dim() != 4:
        raise AttributionError(f"{method} needs a spatial map (B, K, h, w) or patch tokens (B, N, D) at its layer, "
                               f"but layer {layer.name!r} gives {tuple(activations.shape)}; choose an earlier layer")
    return activations, grads


class GradCAM(Attribution):
    """ReLU(sum_k alpha_k^c A^k) with alpha_k^c the spatial mean of dy^c/dA^k, upsampled bilinearly."""

    def combine(self, activations: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
        """(B, K, h, w) activations and gradients -> (B, 1, h, w) map before the ReLU."""
        alpha = grads.mean(dim=(2, 3), keepdim=True)  # (B, K, 1, 1)
        return (alpha * activations).sum(dim=1, keepdim=True)

    def _attribute(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        activations, grads = layer_activations_and_grads(self.model, self.tap(x), x, target, type(self).__name__)
        return upsample(torch.relu(self.combine(activations, grads)), tuple(x.shape[-2:]))


class HiResCAM(GradCAM):
    """ReLU(sum_k dy^c/dA^k * A^k): element-wise gradients, faithful to the score for linear heads."""

    def combine(self, activations: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
        return (grads * activations).sum(dim=1, keepdim=True)


class GuidedGradCAM(GradCAM):
    """Guided Backprop (B, C, H, W) times the upsampled Grad-CAM map, max |.| over channels."""

    def _attribute(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        cam = super()._attribute(x, target)  # (B, 1, H, W)
        guided = GuidedBackprop(self.model).per_channel(x, target)  # (B, C, H, W)
        return max_abs_over_channels(guided * cam)
