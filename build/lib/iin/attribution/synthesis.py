"""Activation Maximisation (Erhan et al. 2009) with the Fourier, decorrelated parametrisation of Olah et al. 2017."""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .base import Attribution, check_target, first_conv, layer_output

# sqrt of the colour correlation of ImageNet pixels (lucid): maps decorrelated channels to RGB
COLOR_CORRELATION_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])


class FourierImage(nn.Module):
    """Images sigmoid(base + colour-decorrelated irfft2(spectrum / f^decay)): a smooth, well-conditioned basis."""

    def __init__(self, n: int, channels: int, size: tuple[int, int], decay: float = 1.0, sd: float = 0.01,
                 base: torch.Tensor | None = None, generator: torch.Generator | None = None):
        super().__init__()
        h, w = size
        fy, fx = torch.fft.fftfreq(h)[:, None], torch.fft.rfftfreq(w)[None]
        freq = (fx**2 + fy**2).sqrt().clamp_min(1.0 / max(h, w))  # (H, W//2+1)
        self.register_buffer("scale", freq**-decay * math.sqrt(h * w) / max(h, w))
        self.register_buffer("base", torch.zeros(n, channels, h, w) if base is None else base)
        self.size = size
        self.spectrum = nn.Parameter(torch.randn(n, channels, h, w // 2 + 1, 2, generator=generator) * sd)

    def forward(self) -> torch.Tensor:
        spectrum = torch.view_as_complex(self.spectrum) * self.scale  # (n, C, H, W//2+1) complex
        image = torch.fft.irfft2(spectrum, s=self.size, norm="ortho")  # (n, C, H, W)
        if image.shape[1] == 3:
            corr = COLOR_CORRELATION_SQRT / COLOR_CORRELATION_SQRT.norm(dim=0).max()
            image = torch.einsum("ij,njhw->nihw", corr.to(image), image)
        return torch.sigmoid(self.base + image)


def random_affine(images: torch.Tensor, jitter: float, scale: tuple[float, float], degrees: float,
                  generator: torch.Generator) -> torch.Tensor:
    """Jitter (pixels), scale and rotate every image by a random amount (transformation robustness)."""
    n, _, h, w = images.shape
    u = torch.rand(n, 4, generator=generator).to(images)
    angle = (u[:, 0] * 2 - 1) * math.radians(degrees)
    s = scale[0] + u[:, 1] * (scale[1] - scale[0])
    shift = (u[:, 2:] * 2 - 1) * jitter * 2 / torch.tensor([w, h]).to(images)  # pixels -> [-1, 1] units
    cos, sin = angle.cos() / s, angle.sin() / s
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)  # theta (n, 2, 3)
    return F.grid_sample(images, grid, padding_mode="reflection", align_corners=False)


class ActivationMaximization(Attribution):
    """Images that maximise a class logit (`kind="class"`), a channel's mean or its centre unit at `layer`.

    `visualize(targets)` synthesises images from noise; `attribute(x, target)` starts from x instead and
    returns |x* - x| summed over channels: where the image had to change to excite the target more.
    """

    def __init__(self, model: nn.Module, layer=None, kind: str = "class", steps: int = 128, lr: float = 0.05,
                 jitter: float = 2.0, scale: tuple[float, float] = (0.9, 1.1), degrees: float = 10.0,
                 decay: float = 1.0, attribute_steps: int = 32, seed: int = 0):
        super().__init__(model, layer)
        if kind not in ("class", "channel", "unit"):
            raise ValueError(f"kind must be 'class', 'channel' or 'unit', got {kind!r}")
        self.kind, self.steps, self.lr, self.jitter, self.scale = kind, steps, lr, jitter, tuple(scale)
        self.degrees, self.decay, self.attribute_steps, self.seed = degrees, decay, attribute_steps, seed

    def outputs(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n) scores of every class, channel (spatial mean) or centre unit."""
        if self.kind == "class":
            return self.model(x)
        a = layer_output(self.model, self.tap(x), x, type(self).__name__)
        if a.dim() == 2:
            return a
        return a.mean(dim=(2, 3)) if self.kind == "channel" else a[:, :, a.shape[2] // 2, a.shape[3] // 2]

    logits = outputs  # the base class reads targets from `logits`

    def optimize(self, image: FourierImage, target: torch.Tensor, steps: int) -> torch.Tensor:
        """Gradient ascent on the target score of randomly transformed renderings; returns the final images."""
        generator = torch.Generator().manual_seed(self.seed)
        optimizer = torch.optim.Adam(image.parameters(), lr=self.lr)
        for _ in range(steps):
            with torch.enable_grad():
                x = random_affine(image(), self.jitter, self.scale, self.degrees, generator)
                loss = -self.outputs(x).gather(1, target[:, None]).sum()
                (image.spectrum.grad,) = torch.autograd.grad(loss, [image.spectrum])  # model grads untouched
            optimizer.step()
        return image().detach()

    def visualize(self, targets: torch.Tensor | list[int], size: tuple[int, int] = (32, 32)) -> torch.Tensor:
        """One synthesised image (n, C, H, W) in [0, 1] per target index."""
        targets = torch.as_tensor(targets).long().reshape(-1)
        conv = first_conv(self.model)
        channels = conv.in_channels if conv is not None else 3
        with torch.no_grad():
            check_target(targets, self.outputs(torch.zeros(1, channels, *size)).shape[1], self.kind)
        image = FourierImage(len(targets), channels, size, self.decay,
                             generator=torch.Generator().manual_seed(self.seed))
        return self.optimize(image, targets, self.steps)

    def _attribute(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        base = torch.logit(x.clamp(1e-3, 1 - 1e-3))
        image = FourierImage(x.shape[0], x.shape[1], tuple(x.shape[-2:]), self.decay, sd=0.0, base=base)
        optimized = self.optimize(image, target, self.attribute_steps)
        return (optimized - x).abs().sum(dim=1, keepdim=True)
