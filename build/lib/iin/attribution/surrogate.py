"""LIME (Ribeiro et al. 2016) over superpixels: batched sampling, a closed-form weighted ridge surrogate."""
from __future__ import annotations

import torch
from torch import nn

from .base import Attribution
from .superpixels import pattern_probabilities, superpixels


def cosine_kernel(z: torch.Tensor, width: float) -> torch.Tensor:
    """lime's image kernel: sqrt(exp(-d^2 / width^2)), d the cosine distance of z (n, S) to all-ones."""
    d = 1 - z.sum(1) / (z.sum(1).sqrt() * z.shape[1] ** 0.5).clamp_min(1e-12)  # (n,)
    return torch.exp(-(d**2) / width**2).sqrt()


def weighted_ridge(z: torch.Tensor, y: torch.Tensor, weights: torch.Tensor,
                   alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(coef (S,), intercept) minimising sum_i w_i (y_i - b - z_i.coef)^2 + alpha |coef|^2 (b not penalised).

    sklearn's Ridge(fit_intercept=True) with sample_weight, in closed form (float64): centre z and y on their
    weighted means, then solve (Zc^T W Zc + alpha I) coef = Zc^T W yc; b = mean(y) - mean(z).coef.
    """
    z, y, w = z.double(), y.double(), weights.double()
    z_mean, y_mean = (w @ z) / w.sum(), (w @ y) / w.sum()  # weighted means (S,), ()
    zc, yc = z - z_mean, y - y_mean  # (n, S), (n,)
    eye = torch.eye(z.shape[1], dtype=z.dtype, device=z.device)
    coef = torch.linalg.solve(zc.T @ (w[:, None] * zc) + alpha * eye, zc.T @ (w * yc))  # (S, S) (S,) -> (S,)
    return coef, y_mean - z_mean @ coef


class LIME(Attribution):
    """Weighted ridge fit of P(c | superpixels on/off) on n_samples random on/off patterns; map = coefficients."""

    def __init__(self, model: nn.Module, layer=None, n_samples: int = 1000, n_segments: int = 25,
                 kernel_width: float = 0.25, alpha: float = 1.0, baseline: float = 0.0, batch_size: int = 100,
                 seed: int = 0):
        super().__init__(model, layer)
        self.n_samples, self.n_segments, self.kernel_width = n_samples, n_segments, kernel_width
        self.alpha, self.baseline, self.batch_size, self.seed = alpha, baseline, batch_size, seed

    def samples(self, n_features: int, device: torch.device) -> torch.Tensor:
        """The seeded on/off patterns z (n_samples, S); the first row is the unperturbed image, as in lime."""
        generator = torch.Generator(device=device).manual_seed(self.seed)
        z = torch.randint(0, 2, (self.n_samples, n_features), generator=generator, device=device)
        z[0] = 1
        return z

    def explain(self, image: torch.Tensor, target: int, segments: torch.Tensor | None = None) -> torch.Tensor:
        """Surrogate coefficients (S,) for one image (C, H, W) and its superpixels (H, W)."""
        segments = superpixels(image, self.n_segments) if segments is None else segments
        z = self.samples(int(segments.max()) + 1, image.device)  # (n, S)
        probs = pattern_probabilities(self.inference(image[None]), image, segments, z, self.baseline, self.batch_size)
        coef, _ = weighted_ridge(z, probs[:, target], cosine_kernel(z.float(), self.kernel_width), self.alpha)
        return coef.float()

    def _attribute(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        maps = []
        for image, t in zip(x, target.tolist()):
            segments = superpixels(image, self.n_segments)
            maps.append(self.explain(image, t, segments).to(x.device)[segments])  # (S,) -> (H, W)
        return torch.stack(maps)[:, None]  # (B, H, W) -> (B, 1, H, W)
