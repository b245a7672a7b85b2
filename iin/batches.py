"""Batch sources for INN training: cached tensors (fast) or the frozen networks run every step."""
from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset

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


class StepBatches(IterableDataset):
    """Endless shuffled full batches; batch `s` depends on (seed, s) only, and iteration starts at `start_step`.

    Epoch e is a permutation seeded by (seed, e); step s takes batch s % (n // batch_size) of epoch
    s // (n // batch_size). So a resumed stage (start_step = the restored global step, set by
    iin.stages.common.fit) reads exactly the batches an uninterrupted run would have read.
    """

    def __init__(self, dataset: Dataset, batch_size: int, seed: int = 0):
        self.dataset, self.batch_size, self.seed, self.start_step = dataset, batch_size, int(seed), 0
        self.per_epoch = len(dataset) // batch_size  # full batches only
        if self.per_epoch < 1:
            raise ValueError(f"batch size {batch_size} is larger than the {len(dataset)} training examples")

    def __iter__(self):
        from .stages.resume import step_seed

        step, order, epoch = self.start_step, None, -1
        while True:
            if step // self.per_epoch != epoch:
                epoch = step // self.per_epoch
                order = torch.randperm(len(self.dataset), generator=torch.Generator().manual_seed(step_seed(self.seed, epoch)))
            b = step % self.per_epoch
            yield self.dataset[order[b * self.batch_size:(b + 1) * self.batch_size].tolist()]
            step += 1


def batch_loader(dataset: Dataset, batch_size: int, seed: int) -> DataLoader:
    """Shuffled full batches as a step-addressed source (the dataset gathers a whole batch at once)."""
    return DataLoader(StepBatches(dataset, batch_size, seed), batch_size=None)
