"""LIME (Ribeiro et al. 2016) over superpixels: batched sampling, captum's linear surrogate engine."""
from __future__ import annotations

import torch
from captum._utils.models.linear_model import SkLearnRidge
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from .base import Attribution
from .superpixels import pattern_probabilities, superpixels


def cosine_kernel(z: torch.Tensor, width: float) -> torch.Tensor:
    """lime's image kernel: sqrt(exp(-d^2 / width^2)), d the cosine distance of z (n, S) to all-ones."""
    d = 1 - z.sum(1) / (z.sum(1).sqrt() * z.shape[1] ** 0.5).clamp_min(1e-12)  # (n,)
    return torch.exp(-(d**2) / width**2).sqrt()


class LIME(Attribution):
    """Weighted ridge fit of P(c | superpixels on/off) on n_samples random on/off patterns; map = coefficients."""

    def __init__(self, model: nn.Module, layer=None, n_samples: int = 1000, n_segments: int = 25,
                 kernel_width: float = 0.25, alpha: float = 1.0, baseline: float = 0.0, batch_size: int = 100,
                 seed: int = 0):
        super().__init__(model, layer)
        self.n_samples, self.n_segments, self.kernel_width = n_samples, n_segments, kernel_width
        self.alpha, self.baseline, self.batch_size, self.seed = alpha, baseline, batch_size, seed

    def explain(self, image: torch.Tensor, target: int, segments: torch.Tensor | None = None) -> torch.Tensor:
        """Surrogate coefficients (S,) for one image (C, H, W) and its superpixels (H, W)."""
        segments = superpixels(image, self.n_segments) if segments is None else segments
        n_features = int(segments.max()) + 1
        generator = torch.Generator(device=image.device).manual_seed(self.seed)
        z = torch.randint(0, 2, (self.n_samples, n_features), generator=generator, device=image.device)
        z[0] = 1  # the unperturbed image, as in lime
        probs = pattern_probabilities(self.inference(image[None]), image, segments, z, self.baseline, self.batch_size)
        scores = probs[:, target]  # (n,)
        data = TensorDataset(z.float(), scores[:, None], cosine_kernel(z.float(), self.kernel_width))
        surrogate = SkLearnRidge(alpha=self.alpha)
        surrogate.fit(DataLoader(data, batch_size=len(data)))
        return surrogate.representation().reshape(-1)  # (1, S) -> (S,)

    def _attribute(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        maps = []
        for image, t in zip(x, target.tolist()):
            segments = superpixels(image, self.n_segments)
            maps.append(self.explain(image, t, segments).to(x.device)[segments])  # (S,) -> (H, W)
        return torch.stack(maps)[:, None]  # (B, H, W) -> (B, 1, H, W)
