"""Reading a split, whatever its source: batches in order, or a bounded seeded subset, never the whole split at once.

Every dataset serves items as dicts (`image` (C, H, W) in [0, 1], `label`, `index`, one entry per factor, optionally
`mask`) and knows its factor table (`factors`: name -> (N,) integers, small) and its `label` factor. Embedded sets
keep their tensors and gather a batch with one index (`gather`); image folders, torchvision datasets and tar shards
decode item by item in DataLoader worker processes. Memory is one batch, whatever the split's size.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import torch
from torch.utils.data import DataLoader, Dataset, Subset


class Labelled(Dataset):
    """What every iin dataset shares: a factor table (name -> (N,) integers) and the name of its label factor."""

    label: str
    factors: dict[str, torch.Tensor]

    @property
    def labels(self) -> torch.Tensor:
        return self.factors[self.label]

    @property
    def factor_names(self) -> list[str]:
        return list(self.factors)


def seeded_indices(n_total: int, n: int | None, seed: int) -> torch.Tensor:
    """The first n of a seeded permutation of range(n_total) (all of it for n=None): splits may be sorted by class."""
    return torch.randperm(n_total, generator=torch.Generator().manual_seed(int(seed)))[: n_total if n is None else n]


def iter_batches(dataset: Dataset, batch_size: int = 256, indices: Sequence[int] | torch.Tensor | None = None,
                 num_workers: int = 0) -> Iterator[dict[str, torch.Tensor]]:
    """Batches of items in the order of `indices` (default: the whole split in order)."""
    idx = torch.arange(len(dataset)) if indices is None else torch.as_tensor(indices, dtype=torch.long)
    if hasattr(dataset, "gather"):  # in-memory tensors: one gather per batch, no per-item collation
        for chunk in idx.split(batch_size):
            yield dataset.gather(chunk)
        return
    loader = DataLoader(Subset(dataset, idx.tolist()), batch_size=batch_size, shuffle=False, num_workers=num_workers,
                        persistent_workers=False)
    yield from loader


def gather(dataset: Dataset, indices: Sequence[int] | torch.Tensor, batch_size: int = 256,
           num_workers: int = 0) -> dict[str, torch.Tensor]:
    """The items at `indices`, stacked per key: for bounded subsets (evaluation images, figure rows)."""
    batches = list(iter_batches(dataset, batch_size, indices, num_workers))
    if not batches:
        raise ValueError("gather needs at least one index")
    return {k: torch.cat([b[k] for b in batches]) for k in batches[0] if isinstance(batches[0][k], torch.Tensor)}


def images_of(dataset: Dataset, indices: Sequence[int] | torch.Tensor, num_workers: int = 0) -> torch.Tensor:
    """Images (n, C, H, W) of the items at `indices`."""
    return gather(dataset, indices, num_workers=num_workers)["image"]


def image_shape(dataset: Dataset) -> tuple[int, int, int]:
    """(C, H, W) of the split's images, read from its first item."""
    return tuple(dataset[0]["image"].shape)
