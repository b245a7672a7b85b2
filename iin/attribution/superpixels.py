"""Superpixels (scikit-image SLIC) shared by LIME and Anchors, and images with superpixels switched off."""
from __future__ import annotations

import numpy as np
import torch
from skimage.segmentation import slic


def superpixels(image: torch.Tensor, n_segments: int = 25, compactness: float = 10.0) -> torch.Tensor:
    """SLIC segments of one image (C, H, W) in [0, 1] -> (H, W) LongTensor labelled 0..S-1."""
    array = image.detach().cpu().permute(1, 2, 0).double().numpy()  # (C, H, W) -> (H, W, C)
    labels = slic(array, n_segments=n_segments, compactness=compactness, start_label=0,
                  channel_axis=-1 if array.shape[-1] > 1 else None)
    _, labels = np.unique(labels, return_inverse=True)  # consecutive labels 0..S-1
    if labels.max() + 1 < max(2, n_segments // 4):  # SLIC merged (almost) everything: tiny or noisy image
        return grid_segments(array.shape[:2], n_segments).to(image.device)
    return torch.from_numpy(labels.reshape(array.shape[:2])).long().to(image.device)


def grid_segments(size: tuple[int, int], n_segments: int) -> torch.Tensor:
    """A regular grid of about n_segments square cells, (H, W) labels."""
    (h, w), side = size, max(1, round(n_segments**0.5))
    rows = torch.arange(h) * side // h  # (H,) cell row of each pixel
    cols = torch.arange(w) * side // w
    return rows[:, None] * side + cols[None, :]


def compose(image: torch.Tensor, segments: torch.Tensor, z: torch.Tensor, baseline: float) -> torch.Tensor:
    """Images (n, C, H, W): superpixel j of `image` kept where z[:, j] is 1, else set to `baseline`."""
    keep = z[:, segments].unsqueeze(1).to(image.dtype)  # (n, S) -> (n, 1, H, W)
    return image[None] * keep + baseline * (1 - keep)


def class_scores(model, images: torch.Tensor, target: int, batch_size: int) -> torch.Tensor:
    """Softmax probability of `target` for many images (n,), in batches."""
    with torch.inference_mode():
        return torch.cat([model(chunk).softmax(dim=1)[:, target] for chunk in images.split(batch_size)])
