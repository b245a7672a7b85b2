"""Batch sources for INN training: cached tensors (fast) or the frozen networks run every step."""
from __future__ import annotations

import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler

from .features import Representation


class CachedBatches(Dataset):
    """Index with a list of indices -> a dict of batched tensors (one gather, no collate)."""

    def __init__(self, **tensors: torch.Tensor):
        self.tensors = tensors
        self.n = len(next(iter(tensors.values())))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, idx: list[int]) -> dict[str, torch.Tensor]:
        idx = torch.as_tensor(idx)
        return {k: v[idx] for k, v in self.tensors.items()}


class RecomputeBatches(CachedBatches):
    """Same batches, but the frozen encoder and backbone run on the images at every step (reference mode)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, representation: Representation, autoencoder):
        super().__init__(images=images, labels=labels)
        self.representation, self.autoencoder = representation, autoencoder.eval()

    @torch.no_grad()
    def __getitem__(self, idx: list[int]) -> dict[str, torch.Tensor]:
        batch = super().__getitem__(idx)
        posterior = self.autoencoder.encode(batch["images"])
        cond = self.representation(batch["images"], batch["labels"])
        return {"mean": posterior.mean, "logvar": posterior.logvar, "cond": cond}


def batch_loader(dataset: Dataset, batch_size: int, seed: int) -> DataLoader:
    """Shuffled full batches drawn as index lists (the dataset gathers a whole batch at once)."""
    sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(seed))
    return DataLoader(dataset, sampler=BatchSampler(sampler, batch_size, drop_last=True), batch_size=None)
