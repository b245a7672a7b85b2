"""A small training loop for ZhangCNN (ordinary or interpretable) on in-memory tensors."""
from __future__ import annotations

from typing import Callable

import torch

from .network import ZhangCNN


def lambda_schedule(step: int, total: int, lam: float, warmup: float = 0.3) -> float:
    """Weight of the filter loss: 0 -> lam linearly over the first `warmup` share of the steps, then lam.

    The task loss first shapes the features; the filter loss then makes each filter a part detector.
    """
    return lam * min(1.0, step / max(1.0, warmup * total))


def train_cnn(net: ZhangCNN, images: torch.Tensor, labels: torch.Tensor, optimizer: Callable[..., torch.optim.Optimizer],
              epochs: int, batch_size: int, lam: float, warmup: float, seed: int) -> list[dict[str, float]]:
    """`optimizer(params)` on cross-entropy (+ lam(t) * filter loss when interpretable); the per-epoch means."""
    gen = torch.Generator().manual_seed(seed)
    opt = optimizer(net.parameters())
    steps_per_epoch = -(-len(images) // batch_size)
    total, step, history = epochs * steps_per_epoch, 0, []
    net.train()
    for _ in range(epochs):
        sums: dict[str, float] = {}
        for idx in torch.randperm(len(images), generator=gen).split(batch_size):
            loss, stats = net.loss(images[idx], labels[idx], lambda_schedule(step, total, lam, warmup))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            for k, v in stats.items():
                sums[k] = sums.get(k, 0.0) + v / steps_per_epoch
        history.append(sums)
    return history


@torch.no_grad()
def predict_maps(net: ZhangCNN, images: torch.Tensor, layers: tuple[str, ...], chunk: int = 256) -> dict[str, torch.Tensor]:
    """The named maps of `images` (eval mode), concatenated over chunks."""
    net.eval()
    parts = [net.maps(x) for x in images.split(chunk)]
    return {name: torch.cat([p[name] for p in parts]) for name in layers}


@torch.no_grad()
def accuracy(net: ZhangCNN, images: torch.Tensor, labels: torch.Tensor) -> float:
    net.eval()
    pred = torch.cat([net(x).argmax(1) for x in images.split(256)])
    return float((pred == labels).float().mean())
