"""Anchors (Ribeiro et al. 2018) for images: KL-LUCB beam search for a set of superpixels that fixes the prediction."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .base import Attribution
from .superpixels import pattern_probabilities, superpixels


def kl_bernoulli(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    p, q = np.clip(p, 1e-7, 1 - 1e-7), np.clip(q, 1e-7, 1 - 1e-7)
    return p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))


def kl_bound(p: np.ndarray, level: np.ndarray, upper: bool) -> np.ndarray:
    """The q furthest from p (above if `upper`, else below) with KL(p || q) <= level, by bisection."""
    lo, hi = (p.copy(), np.ones_like(p)) if upper else (np.zeros_like(p), p.copy())
    for _ in range(20):
        q = (lo + hi) / 2
        inside = kl_bernoulli(p, q) <= level
        if upper:
            lo, hi = np.where(inside, q, lo), np.where(inside, hi, q)
        else:
            lo, hi = np.where(inside, lo, q), np.where(inside, q, hi)
    return lo if upper else hi


def lucb_beta(n_arms: int, t: int, delta: float) -> float:
    """Exploration rate of KL-LUCB (Kaufmann & Kalyanakrishnan 2013), constants as in the anchor code."""
    temp = math.log(405.5 * n_arms * t**1.1 / delta)
    return temp + math.log(temp)


@dataclass
class Anchor:
    """An anchor: superpixel ids in the order they were added, precision, coverage, samples behind the precision."""
    features: tuple[int, ...]
    precision: float
    coverage: float
    n_samples: int
    mask: torch.Tensor  # (H, W) bool: the anchor's superpixels


class _Arms:
    """Sample counts per candidate anchor; `pull` draws perturbations with the anchor's superpixels kept."""

    def __init__(self, method: "Anchors", image: torch.Tensor, segments: torch.Tensor, target: int):
        self.m, self.image, self.segments, self.target = method, image, segments, target
        self.n_features = int(segments.max()) + 1
        self.forward = method.inference(image[None])
        self.generator = torch.Generator(device=image.device).manual_seed(method.seed)
        self.stats: dict[frozenset, list[int]] = {}
        pool = torch.rand(method.coverage_samples, self.n_features, generator=self.generator, device=image.device)
        self.pool = pool < 0.5  # (n, S) perturbations that define coverage

    def pull(self, anchor: tuple[int, ...], n: int) -> None:
        z = torch.rand(n, self.n_features, generator=self.generator, device=self.image.device) < 0.5
        z[:, list(anchor)] = True
        probs = pattern_probabilities(self.forward, self.image, self.segments, z, self.m.baseline, n)
        hits = probs.argmax(dim=1) == self.target  # (n,)
        counts = self.stats.setdefault(frozenset(anchor), [0, 0])
        counts[0] += n
        counts[1] += int(hits.sum())

    def mean(self, anchor: tuple[int, ...]) -> float:
        n, pos = self.stats[frozenset(anchor)]
        return pos / n

    def coverage(self, anchor: tuple[int, ...]) -> float:
        return float(self.pool[:, list(anchor)].all(1).float().mean()) if anchor else 1.0

    def total(self) -> int:
        return sum(n for n, _ in self.stats.values())


class Anchors(Attribution):
    """Smallest superpixel set whose presence keeps the prediction with precision >= threshold (w.p. 1 - delta).

    `attribute` returns the anchor as a map: superpixels of the anchor weighted by the order they joined
    it (first = 1, last = 1/|A|), 0 elsewhere. `explain` returns the anchor with precision and coverage.
    """

    def __init__(self, model: nn.Module, layer=None, n_segments: int = 16, threshold: float = 0.95,
                 delta: float = 0.1, epsilon: float = 0.1, beam_size: int = 2, batch_size: int = 32,
                 max_anchor_size: int = 8, max_samples: int = 3000, round_samples: int = 600,
                 coverage_samples: int = 2000,
                 baseline: float = 0.0, seed: int = 0):
        super().__init__(model, layer)
        self.n_segments, self.threshold, self.delta, self.epsilon = n_segments, threshold, delta, epsilon
        self.beam_size, self.batch_size, self.max_anchor_size = beam_size, batch_size, max_anchor_size
        self.round_samples = round_samples  # samples per beam round (KL-LUCB stops early when bounds separate)
        self.max_samples, self.coverage_samples, self.baseline, self.seed = (max_samples, coverage_samples,
                                                                             baseline, seed)

    def _bounds(self, arms: _Arms, cands: list[tuple[int, ...]], t: int) -> tuple[np.ndarray, ...]:
        n = np.array([arms.stats[frozenset(c)][0] for c in cands], dtype=float)
        means = np.array([arms.mean(c) for c in cands])
        level = lucb_beta(len(cands), t, self.delta) / n
        return means, kl_bound(means, level, upper=False), kl_bound(means, level, upper=True)

    def lucb(self, arms: _Arms, cands: list[tuple[int, ...]], top_n: int) -> list[int]:
        """Indices of the top_n candidates by precision, KL-LUCB until the bounds separate (or the budget ends)."""
        budget = min(self.max_samples, arms.total() + self.round_samples)
        for c in cands:
            if frozenset(c) not in arms.stats:
                arms.pull(c, self.batch_size)
        for t in range(1, 10_000):
            means, lower, upper = self._bounds(arms, cands, t)
            order = np.argsort(-means, kind="stable")
            best, rest = order[:top_n], order[top_n:]
            if len(rest) == 0:
                return best.tolist()
            ut, lt = rest[np.argmax(upper[rest])], best[np.argmin(lower[best])]
            if upper[ut] - lower[lt] <= self.epsilon or arms.total() >= budget:
                return best.tolist()
            arms.pull(cands[ut], self.batch_size)
            arms.pull(cands[lt], self.batch_size)
        return best.tolist()

    def _is_anchor(self, arms: _Arms, anchor: tuple[int, ...]) -> bool:
        """Sample until precision is confidently above or below the threshold; True if above."""
        for t in range(1, 10_000):
            mean, lower, upper = (float(v[0]) for v in self._bounds(arms, [anchor], t))
            undecided = (lower < self.threshold - self.epsilon) if mean >= self.threshold else \
                (upper >= self.threshold + self.epsilon)
            if not undecided or arms.stats[frozenset(anchor)][0] >= self.round_samples \
                    or arms.total() >= self.max_samples:
                return mean >= self.threshold and lower > self.threshold - self.epsilon
            arms.pull(anchor, self.batch_size)
        return False

    def explain(self, image: torch.Tensor, target: int, segments: torch.Tensor | None = None) -> Anchor:
        """Beam search over anchors of growing size for one image (C, H, W)."""
        segments = superpixels(image, self.n_segments) if segments is None else segments
        arms = _Arms(self, image, segments, target)
        beam: list[tuple[int, ...]] = [()]
        for _ in range(min(self.max_anchor_size, arms.n_features)):
            seen, cands = set(), []
            for a in beam:
                for f in range(arms.n_features):
                    if f not in a and frozenset(a + (f,)) not in seen:
                        seen.add(frozenset(a + (f,)))
                        cands.append(a + (f,))
            beam = [cands[i] for i in self.lucb(arms, cands, min(self.beam_size, len(cands)))]
            valid = [a for a in beam if self._is_anchor(arms, a)]
            if valid or arms.total() >= self.max_samples:
                break
        best = max(valid, key=arms.coverage) if valid else max(beam, key=arms.mean)
        mask = torch.isin(segments, torch.tensor(best, dtype=segments.dtype, device=segments.device))
        return Anchor(best, arms.mean(best), arms.coverage(best), arms.stats[frozenset(best)][0], mask)

    def _attribute(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        maps = []
        for image, t in zip(x, target.tolist()):
            segments = superpixels(image, self.n_segments)
            anchor = self.explain(image, t, segments)
            weight = torch.zeros(int(segments.max()) + 1, device=x.device)
            for rank, f in enumerate(anchor.features):
                weight[f] = 1 - rank / len(anchor.features)
            maps.append(weight[segments])  # (S,) -> (H, W)
        return torch.stack(maps)[:, None]  # (B, H, W) -> (B, 1, H, W)
