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


def distinct_images(image: torch.Tensor, segments: torch.Tensor, z: torch.Tensor,
                    baseline: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(patterns (U, S), inverse (n,)): one pattern per distinct perturbed image of the on/off patterns z (n, S).

    Switching off a superpixel whose pixels already equal `baseline` changes nothing, so patterns that
    differ only there give the same image: exact deduplication (large savings on black backgrounds).
    """
    differs = (image != baseline).any(dim=0)  # (H, W)
    informative = torch.zeros(z.shape[1], dtype=torch.bool, device=z.device)
    informative[segments[differs]] = True
    unique, inverse = torch.unique(z[:, informative], dim=0, return_inverse=True)  # (U, S'), (n,)
    patterns = torch.ones(len(unique), z.shape[1], dtype=z.dtype, device=z.device)
    patterns[:, informative] = unique
    return patterns, inverse


def pattern_probabilities(forward, image: torch.Tensor, segments: torch.Tensor, z: torch.Tensor, baseline: float,
                          batch_size: int) -> torch.Tensor:
    """Softmax outputs (n, classes) for on/off patterns z (n, S); each distinct image is evaluated once."""
    patterns, inverse = distinct_images(image, segments, z, baseline)
    with torch.inference_mode():
        probs = torch.cat([forward(chunk).softmax(dim=1)
                           for chunk in compose(image, segments, patterns, baseline).split(batch_size)])
    return probs[inverse]  # (U, classes) -> (n, classes)
