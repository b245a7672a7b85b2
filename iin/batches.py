"""Batch sources for INN training: the feature cache (fast) or the frozen networks run every step (reference).

Batches are endless and addressable by step: batch t is a function of (seed, t, rank) only, so a run resumed at
step t (`start_step`, set when Lightning restores a checkpoint) continues exactly where an uninterrupted run is.
Under DDP each rank reads a disjoint share of every epoch's permutation, like DistributedSampler.
"""
from __future__ import annotations

from typing import Callable, Iterator

import torch
from torch.utils.data import DataLoader, IterableDataset

from .cache import ShardedArray
from .data.access import gather
from .errors import ConfigError
from .features import Representation


def rank_and_world() -> tuple[int, int]:
    """This process's rank and the number of ranks (0, 1 without torch.distributed)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def step_generator(seed: int, step: int, rank: int = 0) -> torch.Generator:
    """A generator whose draws depend on (seed, step, rank) only."""
    return torch.Generator().manual_seed((int(seed) * 1_000_003 + int(step)) * 101 + rank)


class CachedBatches:
    """Rows of the cached posterior and condition: `batch(idx)` -> {'mean', 'logvar', 'cond'}."""

    def __init__(self, mean: ShardedArray, logvar: ShardedArray, cond: ShardedArray):
        self.stores = {"mean": mean, "logvar": logvar, "cond": cond}
        self.n = len(mean)

    def __len__(self) -> int:
        return self.n

    def batch(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        return {k: store.read(idx) for k, store in self.stores.items()}


class RecomputeBatches:
    """Same batches, but the frozen encoder and backbone run on the images at every step (reference mode)."""

    def __init__(self, dataset, representation: Representation, autoencoder):
        self.dataset, self.representation, self.autoencoder = dataset, representation, autoencoder.eval()
        self.n = len(dataset)

    def __len__(self) -> int:
        return self.n

    @torch.no_grad()
    def batch(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        items = gather(self.dataset, idx)
        posterior = self.autoencoder.encode(items["image"])
        cond = self.representation(items["image"], items["label"])
        return {"mean": posterior.mean, "logvar": posterior.logvar, "cond": cond}


def holdout_rows(n: int, share: float, max_rows: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(training, held-out) row indices of n rows, each sorted (reads stay in shard order): a seeded share of the
    rows, at most max_rows, is held out."""
    if not 0 <= share < 1:
        raise ConfigError(f"holdout.share must lie in [0, 1), got {share}")
    k = min(int(round(n * share)), int(max_rows))
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed)))
    return perm[:n - k].sort().values, perm[n - k:].sort().values


class Rows:
    """A batch source restricted to some of its rows: `batch(idx)` reads rows[idx] of `source`."""

    def __init__(self, source, rows: torch.Tensor):
        self.source, self.rows = source, rows

    def __len__(self) -> int:
        return len(self.rows)

    def batch(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.source.batch(self.rows[idx])

    def batches(self, size: int) -> Iterator[dict[str, torch.Tensor]]:
        """Every row once, in order, `size` at a time."""
        for start in range(0, len(self), size):
            yield self.batch(torch.arange(start, min(start + size, len(self))))


class StepBatches(IterableDataset):
    """Endless batches of `source.batch(idx)`: epoch e is the permutation seeded by (seed, e), shared out by rank,
    cut into full batches; `start_step` skips the batches an interrupted run already trained on."""

    def __init__(self, source, batch_size: int, seed: int, what: str = "invariance.batch_size"):
        self.source, self.batch_size, self.seed, self.start_step = source, int(batch_size), int(seed), 0
        if len(source) < self.batch_size:
            raise ConfigError(f"{what}={self.batch_size} is larger than the {len(source)} training examples; "
                              f"lower {what} or add data")

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        rank, world = rank_and_world()
        per_epoch = len(self.source) // world // self.batch_size
        if per_epoch == 0:
            raise ConfigError(f"{len(self.source)} examples shared by {world} ranks leave no full batch of "
                              f"{self.batch_size}; lower the batch size")
        step, perm, perm_epoch = self.start_step, None, -1
        while True:
            epoch, b = divmod(step, per_epoch)
            if epoch != perm_epoch:
                perm = torch.randperm(len(self.source), generator=step_generator(self.seed, epoch))[rank::world]
                perm_epoch = epoch
            yield self.source.batch(perm[b * self.batch_size:(b + 1) * self.batch_size])
            step += 1


class DrawnBatches(IterableDataset):
    """Endless batches `draw(generator)` with a generator seeded by (seed, step, rank): pair sampling."""

    def __init__(self, draw: Callable[[torch.Generator], dict[str, torch.Tensor]], seed: int):
        self.draw, self.seed, self.start_step = draw, int(seed), 0

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        rank, _ = rank_and_world()
        step = self.start_step
        while True:
            yield self.draw(step_generator(self.seed, step, rank))
            step += 1


def batch_loader(batches: IterableDataset) -> DataLoader:
    """A DataLoader over a source that yields whole batches (no collation, no sampler for Lightning to replace)."""
    return DataLoader(batches, batch_size=None)
