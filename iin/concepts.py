"""Concept targets, factor pairs and factor dimensionality estimation for the DisentanglingINN."""
from __future__ import annotations

from typing import Iterator, Mapping

import torch
from torch.utils.data import IterableDataset

from .data import PairSampler
from .flows import RESIDUAL, allocate_dims, constant_units

AUTOENCODER = "@autoencoder"  # target (a): the autoencoder latent zbar; any other target is a model layer


class TargetCodes:
    """Representations of one target for a split: zbar ~ posterior (autoencoder) or flattened Phi_l(x)."""

    def __init__(self, cached: Mapping[str, torch.Tensor], target: str):
        self.target = target
        if target == AUTOENCODER:
            self.mean, self.std = cached["mean"], torch.exp(0.5 * cached["logvar"])
        else:
            self.mean = cached[target].flatten(1)  # (N, C, H, W) -> (N, C*H*W): spatial layers cost H*W more
            self.std = None

    @property
    def dim(self) -> int:
        return self.mean.shape[1]

    def constant_units(self) -> list[int]:
        """Units with one value on every example (dead ReLUs of a layer); never for posterior samples."""
        return [] if self.std is not None else constant_units(self.mean)

    def draw(self, idx: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Codes of examples idx; a fresh posterior sample for the autoencoder target."""
        if self.std is None:
            return self.mean[idx]
        noise = torch.randn(len(idx), self.dim, generator=generator)
        return self.mean[idx] + self.std[idx] * noise


class PairBatches(IterableDataset):
    """Endless batches {z1, z2, k}: codes of pairs sharing factor k (k indexes the factor list).

    Batch `s` depends on (seed, s) only and iteration starts at `start_step` (set to the restored global
    step by iin.stages.common.fit), so a resumed stage reads the batches of an uninterrupted run."""

    def __init__(self, codes: TargetCodes, sampler: PairSampler, batch_size: int, seed: int = 0):
        self.codes, self.sampler, self.batch_size = codes, sampler, batch_size
        self.seed, self.start_step = int(seed), 0
        self.gen = torch.Generator().manual_seed(seed)

    def _steps(self) -> Iterator[int]:
        """Steps from start_step on, with the generators seeded for each."""
        from .stages.resume import step_seed

        step = self.start_step
        while True:
            self.gen.manual_seed(step_seed(self.seed, step))
            self.sampler.gen.manual_seed(step_seed(self.seed + 1, step))
            yield step
            step += 1

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        for _ in self._steps():
            i1, i2, k = self.sampler.sample(self.batch_size)
            yield {"z1": self.codes.draw(i1, self.gen), "z2": self.codes.draw(i2, self.gen), "k": k}


class SingleBatches(PairBatches):
    """Endless batches {z1} without pairs (unsupervised IIN)."""

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        for _ in self._steps():
            idx = torch.randint(len(self.codes.mean), (self.batch_size,), generator=self.gen)
            yield {"z1": self.codes.draw(idx, self.gen)}


def factor_scores(z: torch.Tensor, sampler: PairSampler, n_pairs: int = 5000) -> dict[str, float]:
    """s_k = sum_d Cov(z1_d, z2_d) / sum_d Var(z_d) over pairs sharing factor k (1: k determines z)."""
    centred_var = z.var(0).sum()
    mu = z.mean(0)
    scores = {}
    for k, name in enumerate(sampler.names):
        i1, i2, _ = sampler.sample(n_pairs, factor=k)
        cross = ((z[i1] - mu) * (z[i2] - mu)).mean(0).sum()
        scores[name] = float(cross / centred_var)
    return scores


def estimate_factor_dims(z: torch.Tensor, sampler: PairSampler, residual_score: float = 1.0,
                         temperature: float = 1.0, n_pairs: int = 5000) -> tuple[dict[str, int], dict[str, float]]:
    """Dimensions per factor (softmax of the scores, the residual with a fixed score) and the scores."""
    scores = {**factor_scores(z, sampler, n_pairs), RESIDUAL: residual_score}
    return allocate_dims(scores, z.shape[1], temperature), scores
