"""Embedded offline datasets, pair samplers and one LightningDataModule."""
from .colormnist import colormnist, palette
from .datamodule import DATASETS, DataModule, build_dataset, dataset_from_config
from .folders import DataNotFoundError, ImageFolder, TorchvisionDataset, imagefolder
from .shards import TarShards, write_shards
from .mnist5k import mnist5k
from .access import gather, image_shape, images_of, iter_batches, seeded_indices
from .pairs import PairSampler
from .shapes import SHAPES, shapes
from .tensor_dataset import FactorDataset

__all__ = ["DATASETS", "DataModule", "DataNotFoundError", "FactorDataset", "ImageFolder", "PairSampler", "SHAPES",
           "TarShards", "TorchvisionDataset", "build_dataset", "colormnist", "dataset_from_config", "gather",
           "image_shape", "imagefolder", "images_of", "iter_batches", "mnist5k", "palette", "seeded_indices", "shapes",
           "write_shards"]
