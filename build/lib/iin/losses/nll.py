"""Negative log-likelihood of a flow's output under N(0, I), in nats and bits per dimension."""
from __future__ import annotations

import math

import torch


def nll(v: torch.Tensor, log_det: torch.Tensor) -> torch.Tensor:
    """Per example: 0.5 * |v|^2 + 0.5 * D * log(2 pi) - log|det J|  (v is (B, D))."""
    return 0.5 * (v**2).sum(1) + 0.5 * v.shape[1] * math.log(2 * math.pi) - log_det


def bits_per_dim(nll_nats: torch.Tensor, dim: int) -> torch.Tensor:
    return nll_nats / (dim * math.log(2))
