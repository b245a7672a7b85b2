"""Concept targets, factor pairs and factor dimensionality estimation for the DisentanglingINN."""
from __future__ import annotations

from typing import Mapping

import torch

from .batches import DrawnBatches
from .cache import ShardedArray
from .data import PairSampler
from .flows import RESIDUAL, allocate_dims
from .targets import AUTOENCODER


class TargetCodes:
    """Flat codes of one target for a split, read from the feature cache by index: zbar ~ posterior (autoencoder)
    or Phi_l(x) flattened ((C, H, W) -> C*H*W: spatial layers cost H*W more)."""

    def __init__(self, cached: Mapping[str, ShardedArray], target: str, rows: torch.Tensor | None = None):
        self.cached, self.target = cached, target
        self.store = cached["mean"] if target == AUTOENCODER else cached[target]
        self.logvar = cached["logvar"] if target == AUTOENCODER else None
        self.dim = int(torch.tensor(self.store.shape).prod())
        self.rows = torch.arange(len(self.store)) if rows is None else rows  # example i is cached row rows[i]

    def subset(self, idx: torch.Tensor) -> "TargetCodes":
        """The codes of examples idx only (held-out rows stay out of training, moments and estimates)."""
        return TargetCodes(self.cached, self.target, self.rows[idx])

    def __len__(self) -> int:
        return len(self.rows)

    def means(self, idx: torch.Tensor) -> torch.Tensor:
        """(k, dim): the posterior mean or the layer's features of examples idx."""
        return self.store.read(self.rows[idx]).flatten(1)

    def chunks(self, size: int = 4096):
        for start in range(0, len(self), size):
            yield self.means(torch.arange(start, min(start + size, len(self))))

    def moments(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-unit mean and unbiased std over the split, (dim,) each, in one streaming pass."""
        total = total_sq = 0.0
        for z in self.chunks():
            z = z.double()
            total, total_sq = total + z.sum(0), total_sq + (z * z).sum(0)
        n = len(self)
        mean = total / n
        return mean.float(), ((total_sq - n * mean * mean) / max(n - 1, 1)).clamp_min(0).sqrt().float()

    def constant_units(self) -> list[int]:
        """Units with one value on every example (dead ReLUs of a layer); never for posterior samples."""
        if self.logvar is not None:
            return []
        first, same = None, None
        for z in self.chunks():
            first = z[0] if first is None else first
            same = (z == first).all(0) if same is None else same & (z == first).all(0)
        return same.nonzero().flatten().tolist()

    def draw(self, idx: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Codes of examples idx; a fresh posterior sample for the autoencoder target."""
        mean = self.means(idx)
        if self.logvar is None:
            return mean
        noise = torch.randn(mean.shape, generator=generator)
        return mean + torch.exp(0.5 * self.logvar.read(self.rows[idx]).flatten(1)) * noise


def pair_batches(codes: TargetCodes, sampler: PairSampler, batch_size: int, seed: int) -> DrawnBatches:
    """Endless batches {z1, z2, k}: codes of pairs sharing factor k (k indexes the factor list)."""
    def draw(gen: torch.Generator) -> dict[str, torch.Tensor]:
        i1, i2, k = sampler.sample(batch_size, generator=gen)
        return {"z1": codes.draw(i1, gen), "z2": codes.draw(i2, gen), "k": k}
    return DrawnBatches(draw, seed)


def single_batches(codes: TargetCodes, batch_size: int, seed: int) -> DrawnBatches:
    """Endless batches {z1} without pairs (unsupervised IIN)."""
    def draw(gen: torch.Generator) -> dict[str, torch.Tensor]:
        return {"z1": codes.draw(torch.randint(len(codes), (batch_size,), generator=gen), gen)}
    return DrawnBatches(draw, seed)


def factor_scores(codes: TargetCodes, sampler: PairSampler, units: torch.Tensor, n_pairs: int = 5000) -> dict[str, float]:
    """s_k = sum_d Cov(z1_d, z2_d) / sum_d Var(z_d) over pairs sharing factor k (1: k determines z), on `units`."""
    mu, std = codes.moments()
    mu, centred_var = mu[units], (std[units] ** 2).sum()
    scores = {}
    for k, name in enumerate(sampler.names):
        i1, i2, _ = sampler.sample(n_pairs, factor=k)
        cross = ((codes.means(i1)[:, units] - mu) * (codes.means(i2)[:, units] - mu)).mean(0).sum()
        scores[name] = float(cross / centred_var)
    return scores


def estimate_factor_dims(codes: TargetCodes, sampler: PairSampler, units: torch.Tensor, residual_score: float = 1.0,
                         temperature: float = 1.0, n_pairs: int = 5000) -> tuple[dict[str, int], dict[str, float]]:
    """Dimensions per factor (softmax of the scores, the residual with a fixed score) over `units`, and the scores."""
    scores = {**factor_scores(codes, sampler, units, n_pairs), RESIDUAL: residual_score}
    return allocate_dims(scores, len(units), temperature), scores
