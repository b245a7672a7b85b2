"""Embedded offline datasets, pair samplers and one LightningDataModule."""
from .colormnist import colormnist, palette
from .datamodule import DATASETS, DataModule, build_dataset, dataset_from_config
from .folders import DataNotFoundError, TorchvisionDataset, imagefolder
from .mnist5k import mnist5k
from .pairs import PairDataset, PairSampler
from .shapes import SHAPES, shapes
from .tensor_dataset import FactorDataset

__all__ = ["DATASETS", "DataModule", "DataNotFoundError", "FactorDataset", "PairDataset", "PairSampler",
           "SHAPES", "TorchvisionDataset", "build_dataset", "dataset_from_config", "colormnist", "imagefolder", "mnist5k",
           "palette", "shapes"]
