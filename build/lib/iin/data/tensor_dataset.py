"""The embedded datasets: images in memory (a few thousand small ones) with named ground-truth factors."""
from __future__ import annotations

import torch
from .access import Labelled


class FactorDataset(Labelled):
    """Images (N, C, H, W) in [0, 1] with integer factors; items are dicts.

    Each item holds `image`, `label` (the factor named by `label`, the class a model is trained
    on), every factor by name, and `index`; `mask` (N, 1, H, W) marks the object when known.
    """

    def __init__(
        self,
        images: torch.Tensor,
        factors: dict[str, torch.Tensor],
        label: str,
        masks: torch.Tensor | None = None,
        extras: dict[str, torch.Tensor] | None = None,
    ):
        if images.ndim != 4:
            raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
        if label not in factors:
            raise ValueError(f"label {label!r} is not a factor; factors are {sorted(factors)}")
        for name, values in {**factors, **(extras or {})}.items():
            if len(values) != len(images):
                raise ValueError(f"factor {name!r} has {len(values)} entries for {len(images)} images")
        self.images, self.factors, self.label = images, factors, label
        self.masks = masks
        self.extras = extras or {}

    @property
    def num_classes(self) -> int:
        return int(self.labels.max()) + 1

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = {"image": self.images[i], "label": self.labels[i], "index": torch.tensor(i)}
        item.update({name: values[i] for name, values in self.factors.items()})
        if self.masks is not None:
            item["mask"] = self.masks[i]
        item.update({name: values[i] for name, values in self.extras.items()})
        return item

    def gather(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        """The items at idx (n,) batched with one index per tensor (what a DataLoader would collate)."""
        batch = {"image": self.images[idx], "label": self.labels[idx], "index": idx.clone()}
        batch.update({name: values[idx] for name, values in self.factors.items()})
        if self.masks is not None:
            batch["mask"] = self.masks[idx]
        batch.update({name: values[idx] for name, values in self.extras.items()})
        return batch
