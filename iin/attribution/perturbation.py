"""Perturbation maps: Occlusion (Zeiler & Fergus 2014, through captum) and RISE (Petsiuk et al. 2018)."""
from __future__ import annotations

import math
from typing import Iterator

import torch
from captum.attr import Occlusion as _CaptumOcclusion
from torch import nn
from torch.nn import functional as F

from .base import Attribution


class Occlusion(Attribution):
    """Drop in the target score when a `window` x `window` patch (all channels) is set to `baseline`."""

    def __init__(self, model: nn.Module, layer=None, window: int = 4, stride: int = 2, baseline: float = 0.0,
                 batch_size: int = 256):
        super().__init__(model, layer)
        self.window, self.stride, self.baseline, self.batch_size = window, stride, baseline, batch_size

    def _attribute(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        attr = _CaptumOcclusion(self.inference(x)).attribute(  # captum's forwards run without gradients
            x, sliding_window_shapes=(c, self.window, self.window), strides=(c, self.stride, self.stride),
            baselines=self.baseline, target=target,  # (B, C, H, W)
            perturbations_per_eval=max(1, self.batch_size // len(x)))  # each forward sees B x this many images
        return attr.mean(dim=1, keepdim=True)  # identical over channels: the window spans all of them


class RISE(Attribution):
    """sum_i P(c | x * M_i) M_i / (N p) over N random masks M_i: s x s Bernoulli(p) grids, upsampled, shifted.

    Masks are made on x's device in chunks of `chunk`, each chunk one batched forward (~100 stays in cache).
    """

    def __init__(self, model: nn.Module, layer=None, n_masks: int = 4000, cells: int = 8, p: float = 0.5,
                 chunk: int = 100, seed: int = 0):
        super().__init__(model, layer)
        self.n_masks, self.cells, self.p, self.chunk, self.seed = n_masks, cells, p, chunk, seed

    def generate_masks(self, n: int, size: tuple[int, int], generator: torch.Generator,
                       device: torch.device) -> torch.Tensor:
        """n smooth masks (n, 1, H, W): upsample s x s binary grids to (s+1) cells, crop at a random shift."""
        (h, w), s = size, self.cells
        ch, cw = math.ceil(h / s), math.ceil(w / s)
        grid = (torch.rand(n, 1, s, s, generator=generator, device=device) < self.p).float()
        up = F.interpolate(grid, size=((s + 1) * ch, (s + 1) * cw), mode="bilinear", align_corners=False)
        dy = torch.randint(0, ch, (n,), generator=generator, device=device)
        dx = torch.randint(0, cw, (n,), generator=generator, device=device)
        rows = dy[:, None] + torch.arange(h, device=device)  # (n, H)
        cols = dx[:, None] + torch.arange(w, device=device)  # (n, W)
        idx = torch.arange(n, device=device)[:, None, None]
        return up[idx, 0, rows[:, :, None], cols[:, None, :]][:, None]  # (n, H, W) -> (n, 1, H, W)

    def masks(self, size: tuple[int, int], device: torch.device) -> Iterator[torch.Tensor]:
        """All N masks in chunks of `chunk`, generated on `device` from the seed (same masks every call)."""
        generator = torch.Generator(device=device).manual_seed(self.seed)
        for start in range(0, self.n_masks, self.chunk):
            yield self.generate_masks(min(self.chunk, self.n_masks - start), size, generator, device)

    @torch.inference_mode()
    def _attribute(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        saliency = torch.zeros(b, h * w, device=x.device)
        forward = self.inference(x)
        for m in self.masks((h, w), x.device):  # (n, 1, H, W)
            flat = m.reshape(m.shape[0], h * w)  # (n, 1, H, W) -> (n, H*W)
            for i in range(b):
                probs = forward(x[i:i + 1] * m).softmax(dim=1)[:, target[i]]  # (n,)
                saliency[i] += probs @ flat
        return (saliency / (self.n_masks * self.p)).reshape(b, 1, h, w)  # (B, H*W) -> (B, 1, H, W)
