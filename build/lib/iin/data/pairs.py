"""Pairs of examples that share one ground-truth factor, drawn with vectorised index tables."""
from __future__ import annotations

import torch


class PairSampler:
    """Draw (i1, i2, k): examples i1 and i2 share the value of factor k (k indexes `names`).

    For each factor the indices are sorted by value once; a partner is then one gather away:
    i2 = order[start[value(i1)] + floor(u * count[value(i1)])]. No per-example Python loop.
    """

    def __init__(self, factors: dict[str, torch.Tensor], names: list[str] | None = None, seed: int = 0):
        self.names = list(names or factors)
        unknown = [n for n in self.names if n not in factors]
        if unknown:
            raise ValueError(f"unknown factor(s) {unknown}; available: {sorted(factors)}")
        self.n = len(next(iter(factors.values())))
        self.values = torch.stack([factors[n].long() for n in self.names])  # (K, N)
        self.order = self.values.argsort(dim=1, stable=True)  # (K, N)
        n_levels = int(self.values.max()) + 1
        counts = torch.stack([torch.bincount(v, minlength=n_levels) for v in self.values])  # (K, L)
        self.counts = counts
        self.starts = counts.cumsum(1) - counts  # (K, L)
        self.gen = torch.Generator().manual_seed(seed)

    def sample(self, batch_size: int, factor: int | None = None,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
        """Index tensors (i1, i2, k), each (batch_size,); drawn with `generator` (default: the sampler's own)."""
        gen = self.gen if generator is None else generator
        k = (torch.randint(len(self.names), (batch_size,), generator=gen)
             if factor is None else torch.full((batch_size,), factor))
        i1 = torch.randint(self.n, (batch_size,), generator=gen)
        v = self.values[k, i1]
        offset = (torch.rand(batch_size, generator=gen) * self.counts[k, v]).long()
        i2 = self.order[k, self.starts[k, v] + offset]
        return i1, i2, k
