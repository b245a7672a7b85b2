"""One LightningDataModule for every dataset iin knows."""
from __future__ import annotations

from typing import Any, Callable

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from .access import image_shape
from .colormnist import colormnist
from ..errors import DataError
from .folders import TorchvisionDataset, imagefolder
from .shards import TarShards
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
    "shards": TarShards,
}


def build_dataset(dataset: str, split: str, **options: Any) -> Dataset:
    """The `split` ('train' or 'test') of dataset `dataset` (a DATASETS key), built with its keyword options."""
    if dataset not in DATASETS:
        raise DataError(f"unknown dataset {dataset!r} (data.name); available: {sorted(DATASETS)}")
    return DATASETS[dataset](split=split, **options)


def dataset_from_config(data_cfg: Any, split: str) -> Dataset:
    """The `split` of the dataset a `data` config group describes (name + options), checked against num_classes."""
    dataset = build_dataset(data_cfg.name, split, **dict(data_cfg.get("options") or {}))
    check_classes(dataset, data_cfg.get("num_classes"))
    return dataset


def check_classes(dataset: Dataset, num_classes: Any) -> None:
    """data.num_classes must cover every label of the data (a smaller value fails deep inside the loss)."""
    if not isinstance(num_classes, int):
        return
    found = getattr(dataset, "num_classes", None)
    found = int(dataset.labels.max()) + 1 if found is None and len(dataset.labels) else found
    if found is not None and found > num_classes:
        names = getattr(dataset, "classes", None)
        detail = f" (class folders {', '.join(names[:8])}{', ...' if len(names) > 8 else ''})" if names else ""
        raise DataError(f"data.num_classes={num_classes} but the data has {found} classes{detail}; "
                        f"set data.num_classes={found}")


class DataModule(pl.LightningDataModule):
    """Train/test splits of one dataset; test doubles as validation (the splits are fixed)."""

    def __init__(self, dataset: str = "colormnist", batch_size: int = 128, num_workers: int = 0,
                 **options: Any):
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"data.batch_size must be >= 1, got {batch_size}")
        self.name, self.batch_size, self.num_workers, self.options = dataset, batch_size, num_workers, options
        self.train: Dataset | None = None
        self.test: Dataset | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train is None:
            self.train = build_dataset(self.name, "train", **self.options)
            self.test = build_dataset(self.name, "test", **self.options)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        self.setup()
        return image_shape(self.train)

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
