"""Class activation maps: Grad-CAM (Selvaraju et al. 2017), HiResCAM (Draelos & Carin 2020), Guided Grad-CAM."""
from __future__ import annotations

import torch
from torch import nn

from .base import Attribution, forward_hook, upsample
from .gradient import GuidedBackprop, max_abs_over_channels


def layer_activations_and_grads(model: nn.Module, layer: nn.Module, x: torch.Tensor,
                                target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A = layer(x) (B, K, h, w) and dy^c/dA for the target scores y^c; the hook is removed in finally."""
    store: dict[str, torch.Tensor] = {}

    def keep(_module, _inputs, output):
        store["A"] = output

    with forward_hook(layer, keep), torch.enable_grad():
        logits = model(x.clone().requires_grad_(True))  # grad through x even when the model is frozen
        if "A" not in store:
            raise RuntimeError(f"layer {type(layer).__name__} was not called during the forward pass")
        score = logits.gather(1, target[:, None]).sum()
        (grads,) = torch.autograd.grad(score, store["A"])
    return store["A"].detach(), grads


class GradCAM(Attribution):
    """ReLU(sum_k alpha_k^c A^k) with alpha_k^c the spatial mean of dy^c/dA^k, upsampled bilinearly."""

    def combine(self, activations: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
        """(B, K, h, w) activations and gradients -> (B, 1, h, w) map before the ReLU."""
        alpha = grads.mean(dim=(2, 3), keepdim=True)  # (B, K, 1, 1)
        return (alpha * activations).sum(dim=1, keepdim=True)

    def _attribute(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        activations, grads = layer_activations_and_grads(self.model, self.layer(x), x, target)
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
