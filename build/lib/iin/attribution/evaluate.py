"""Faithfulness and sanity of attribution maps: deletion/insertion AUC (Petsiuk et al. 2018), pointing game
(Zhang et al. 2016), cascading model randomisation (Adebayo et al. 2018); random, centre and Sobel-edge baselines."""
from __future__ import annotations

import copy
from typing import Callable

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import nn
from torch.nn import functional as F

from .base import Attribution
from ..inference import frozen


def gaussian_blur(x: torch.Tensor, sigma: float = 5.0, size: int = 11) -> torch.Tensor:
    """The insertion start image of the RISE protocol: a strong Gaussian blur of x (B, C, H, W)."""
    k = torch.exp(-((torch.arange(size, dtype=x.dtype, device=x.device) - size // 2) ** 2) / (2 * sigma**2))
    k = (k / k.sum()).repeat(x.shape[1], 1, 1, 1)  # (C, 1, 1, size): one separable kernel per channel
    x = F.conv2d(F.pad(x, (size // 2,) * 4, mode="reflect"), k, groups=x.shape[1])
    return F.conv2d(x, k.transpose(2, 3), groups=x.shape[1])


def pixel_ranks(maps: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Rank of every pixel (B, H*W), 0 = most important; ties are broken at random, not in raster order."""
    flat = maps.flatten(1)  # (B, 1, H, W) -> (B, H*W)
    perm = torch.randperm(flat.shape[1], generator=generator).to(flat.device)
    order = perm[flat[:, perm].argsort(dim=1, descending=True, stable=True)]  # (B, H*W) pixel ids
    return torch.empty_like(order).scatter_(1, order, torch.arange(flat.shape[1], device=flat.device).expand_as(order))


@torch.inference_mode()
def perturbation_curves(model: nn.Module, x: torch.Tensor, maps: torch.Tensor, target: torch.Tensor,
                        mode: str, n_steps: int = 32, batch_size: int = 128, seed: int = 0) -> torch.Tensor:
    """P(target) (B, n_steps+1) as pixels are deleted (set to 0) or inserted (into a blurred copy), top first."""
    if mode not in ("deletion", "insertion"):
        raise ValueError(f"mode must be 'deletion' or 'insertion', got {mode!r}")
    b, c, h, w = x.shape
    ranks = pixel_ranks(maps, torch.Generator().manual_seed(seed))  # (B, H*W)
    counts = torch.linspace(0, h * w, n_steps + 1, device=x.device).round()  # pixels changed at each step
    changed = (ranks[:, None, :] < counts[None, :, None]).reshape(b, n_steps + 1, 1, h, w)  # (B, S+1, 1, H, W)
    start, end = (x, torch.zeros_like(x)) if mode == "deletion" else (gaussian_blur(x), x)
    copies = torch.where(changed, end[:, None], start[:, None]).reshape(-1, c, h, w)  # (B*(S+1), C, H, W)
    forward = frozen(model, x)
    probs = torch.cat([forward(chunk).softmax(dim=1) for chunk in copies.split(batch_size)])
    return probs.reshape(b, n_steps + 1, -1).gather(2, target[:, None, None].expand(-1, n_steps + 1, 1))[..., 0]


def auc(curves: torch.Tensor) -> torch.Tensor:
    """Trapezoidal area under curves (B, S+1) sampled evenly on [0, 1]."""
    return (curves[:, 1:] + curves[:, :-1]).mean(dim=1) / 2


def pointing_game(maps: torch.Tensor, masks: torch.Tensor, tolerance: float = 1) -> torch.Tensor:
    """Hit (B,) when the map's maximum lies within `tolerance` pixels (Euclidean) of the object mask.

    TorchRay's rule (a disc around the peak that touches the mask); at a non-integer tolerance, such as
    its 15 px at 224 px scaled to a smaller image, `<=` and TorchRay's `<` agree.
    """
    b, _, h, w = masks.shape
    peak = maps.flatten(1).argmax(dim=1)  # (B,)
    py, px = (peak // w).float(), (peak % w).float()
    ys = torch.arange(h, dtype=torch.float32, device=masks.device)
    xs = torch.arange(w, dtype=torch.float32, device=masks.device)
    d2 = (ys[None, :, None] - py[:, None, None]) ** 2 + (xs[None, None, :] - px[:, None, None]) ** 2  # (B, H, W)
    return ((d2 <= tolerance**2) & (masks[:, 0] > 0)).flatten(1).any(dim=1)


def random_maps(x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """The random-map baseline: i.i.d. uniform values (B, 1, H, W)."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(x.shape[0], 1, *x.shape[-2:], generator=g).to(x)


def center_maps(x: torch.Tensor, sigma: float = 0.25) -> torch.Tensor:
    """The centre baseline of the pointing game (TorchRay's `center`): a Gaussian (B, 1, H, W) peaked at the
    image centre, `sigma` in units of the image side; it knows nothing about the image."""
    h, w = x.shape[-2:]
    ys = (torch.arange(h, dtype=x.dtype, device=x.device) + 0.5 - h / 2) / h
    xs = (torch.arange(w, dtype=x.dtype, device=x.device) + 0.5 - w / 2) / w
    g = torch.exp(-(ys[:, None] ** 2 + xs[None, :] ** 2) / (2 * sigma**2))  # (H, W)
    return g.expand(x.shape[0], 1, h, w).clone()


def edge_maps(x: torch.Tensor) -> torch.Tensor:
    """The edge-detector baseline: Sobel gradient magnitude of the channel mean (B, 1, H, W)."""
    gray = x.mean(dim=1, keepdim=True)
    sx = torch.tensor([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=x.dtype, device=x.device)
    kernels = torch.stack([sx, sx.T])[:, None]  # (2, 1, 3, 3)
    g = F.conv2d(F.pad(gray, (1, 1, 1, 1), mode="replicate"), kernels)  # (B, 2, H, W)
    return g.pow(2).sum(dim=1, keepdim=True).sqrt()


def spearman(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """Spearman rank correlation per image between maps (B, 1, H, W); 0 where a map is constant."""
    rho = [spearmanr(u, v).statistic for u, v in zip(a.flatten(1).cpu().numpy(), b.flatten(1).cpu().numpy())]
    return np.nan_to_num(np.asarray(rho, dtype=float))


def cascade_blocks(model: nn.Module) -> list[str]:
    """Top-level children with parameters, from the output back to the input (the randomisation order)."""
    return [n for n, m in reversed(list(model.named_children())) if any(True for _ in m.parameters())]


def randomize_(module: nn.Module, seed: int) -> None:
    """Re-initialise every parameterised submodule in place (as at construction), reproducibly."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in module.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()


def cascading_randomization(make: Callable[[nn.Module], Attribution], model: nn.Module, x: torch.Tensor,
                            target: torch.Tensor, seed: int = 0) -> dict[str, np.ndarray]:
    """Spearman (per image) between the original maps and maps of a model re-initialised from the top down."""
    original = make(model).attribute(x, target)
    randomized, curve = copy.deepcopy(model).eval(), {}
    for i, name in enumerate(cascade_blocks(model)):
        randomize_(getattr(randomized, name), seed + i)
        curve[name] = spearman(original, make(randomized).attribute(x, target))
    return curve


def confidence_interval(values, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> list[float]:
    """Percentile bootstrap interval over images for the mean of `values`."""
    v = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), size=(n_boot, len(v)))].mean(axis=1)
    return [float(np.quantile(means, (1 - level) / 2)), float(np.quantile(means, (1 + level) / 2))]
