"""One LightningDataModule for every dataset iin knows."""
from __future__ import annotations

from typing import Any, Callable

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from .colormnist import colormnist
from .folders import TorchvisionDataset, imagefolder
from .mnist5k import mnist5k
from .parts import parts
from .shapes import shapes
from .tensor_dataset import FactorDataset


def _mnist5k(split: str, size: int = 32) -> FactorDataset:
    images, labels = mnist5k(split, size)
    return FactorDataset(images, {"digit": labels}, label="digit", masks=images > 0.5)


DATASETS: dict[str, Callable[..., Dataset]] = {
    "mnist5k": _mnist5k,
    "colormnist": colormnist,
    "shapes": shapes,
    "parts": parts,
    "imagefolder": imagefolder,
    "torchvision": TorchvisionDataset,
}


def build_dataset(name: str, split: str, **kwargs: Any) -> Dataset:
    """The `split` ('train' or 'test') of dataset `name`, built with its keyword options."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; available: {sorted(DATASETS)}")
    return DATASETS[name](split=split, **kwargs)


def dataset_from_config(data_cfg: Any, split: str) -> Dataset:
    """The `split` of the dataset a `data` config group describes (name + options)."""
    return build_dataset(data_cfg.name, split, **dict(data_cfg.get("options") or {}))


class DataModule(pl.LightningDataModule):
    """Train/test splits of one dataset; test doubles as validation (the splits are fixed)."""

    def __init__(self, name: str = "colormnist", batch_size: int = 128, num_workers: int = 0,
                 **options: Any):
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"data.batch_size must be >= 1, got {batch_size}")
        self.name, self.batch_size, self.num_workers, self.options = name, batch_size, num_workers, options
        self.train: Dataset | None = None
        self.test: Dataset | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train is None:
            self.train = build_dataset(self.name, "train", **self.options)
            self.test = build_dataset(self.name, "test", **self.options)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        self.setup()
        return tuple(self.train[0]["image"].shape)

    def _loader(self, ds: Dataset, shuffle: bool) -> DataLoader:
        gen = torch.Generator().manual_seed(0) if shuffle else None
        return DataLoader(ds, self.batch_size, shuffle=shuffle, num_workers=self.num_workers,
                          generator=gen, persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        self.setup()
        return self._loader(self.train, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        self.setup()
        return self._loader(self.test, shuffle=False)

    test_dataloader = val_dataloader
