"""DeepDream (Mordvintsev et al. 2015): amplify what a layer sees, octave by octave, with jitter."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .base import Attribution, as_target, check_input, check_target, layer_output


class DeepDream(Attribution):
    """Gradient ascent on ||A||^2 / n (or one channel's mean) at `layer`, from coarse to fine octaves.

    `dream(x)` returns the dreamed images; `attribute(x, target)` returns |dream(x) - x| summed over
    channels. `target` here is a channel of the layer (None: the whole layer, as in the original).
    """

    def __init__(self, model: nn.Module, layer=None, octaves: int = 3, octave_scale: float = 1.4,
                 steps: int = 10, step_size: float = 0.02, jitter: int = 2, seed: int = 0):
        super().__init__(model, layer)
        self.octaves, self.octave_scale, self.steps = octaves, octave_scale, steps
        self.step_size, self.jitter, self.seed = step_size, jitter, seed

    def objective(self, x: torch.Tensor, channel: torch.Tensor | None) -> torch.Tensor:
        a = layer_output(self.model, self.tap(x), x, type(self).__name__)
        a = a.flatten(2) if a.dim() > 2 else a[..., None]  # (B, K, h, w) -> (B, K, h*w)
        if channel is None:
            return (a**2).mean()
        return a[torch.arange(len(a)), channel].mean()

    def _ascend(self, image: torch.Tensor, channel, generator: torch.Generator) -> torch.Tensor:
        """`steps` normalised gradient steps on jittered (rolled) copies of `image`."""
        for _ in range(self.steps):
            dy, dx = torch.randint(-self.jitter, self.jitter + 1, (2,), generator=generator).tolist()
            with torch.enable_grad():
                rolled = image.roll((dy, dx), dims=(2, 3)).requires_grad_(True)
                (grad,) = torch.autograd.grad(self.objective(rolled, channel), rolled)
            grad = grad.roll((-dy, -dx), dims=(2, 3))
            image = (image + self.step_size * grad / grad.abs().mean().clamp_min(1e-8)).clamp(0, 1)
        return image

    def dream(self, x: torch.Tensor, target: int | torch.Tensor | None = None) -> torch.Tensor:
        """Dreamed images (B, C, H, W) in [0, 1]."""
        check_input(self.model, x)
        self.layer(x)  # resolve the default layer at full size (octaves shrink the input)
        channel = self._channel(x, target)
        generator = torch.Generator().manual_seed(self.seed)
        h, w = x.shape[-2:]
        sizes = [(max(8, round(h / self.octave_scale**k)), max(8, round(w / self.octave_scale**k)))
                 for k in reversed(range(self.octaves))]
        if not self._takes(x, sizes[0]):
            sizes = [(h, w)]  # a fixed-size model (a ViT's position embeddings): dream at the input size only
        detail = torch.zeros_like(x[..., : sizes[0][0], : sizes[0][1]])
        for size in sizes:
            base = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
            detail = F.interpolate(detail, size=size, mode="bilinear", align_corners=False)
            detail = self._ascend((base + detail).clamp(0, 1), channel, generator) - base
        return (x + detail).clamp(0, 1).detach()

    def _takes(self, x: torch.Tensor, size: tuple[int, int]) -> bool:
        """Whether the model runs on images of `size` (fixed-size models reject other sizes in their forward)."""
        try:
            with torch.no_grad():
                self.model(F.interpolate(x[:1], size=size, mode="bilinear", align_corners=False))
        except (AssertionError, RuntimeError, ValueError):
            return False
        return True

    def _channel(self, x: torch.Tensor, target) -> torch.Tensor | None:
        channel = as_target(target, x.shape[0], x.device)
        if channel is not None:
            with torch.no_grad():
                channels = layer_output(self.model, self.tap(x), x[:1], type(self).__name__).shape[1]
                check_target(channel, channels, "channel")
        return channel

    def attribute(self, x: torch.Tensor, target: int | torch.Tensor | None = None) -> torch.Tensor:
        """|dream(x) - x| summed over channels, (B, 1, H, W)."""
        return (self.dream(x, target) - x).abs().sum(dim=1, keepdim=True)
