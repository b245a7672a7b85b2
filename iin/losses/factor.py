"""FactorLoss (Esser, Rombach, Ommer, CVPR 2020) for pairs (x1, x2) that share factor k.

With codes zt1 = T(z1), zt2 = T(z2):
    L = -log N(zt1; 0, I) - log|det J_T(z1)|
        - log N(zt2_k; rho * zt1_k, (1 - rho^2) I) - log N(zt2_{not k}; 0, I) - log|det J_T(z2)|
so zt_k of the pair is jointly Gaussian with correlation rho, every other factor independent.
The symmetric variant averages L with the roles of the two examples swapped.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def factor_pair_nll(zt1: torch.Tensor, zt2: torch.Tensor, mask: torch.Tensor, rho: float) -> torch.Tensor:
    """-log p(zt2 | zt1) per example; mask (B, D) marks the shared factor's dimensions."""
    var = 1.0 - rho**2
    shared = mask * (zt2 - rho * zt1) ** 2 / var
    free = (1 - mask) * zt2**2
    return 0.5 * (shared + free).sum(1) + 0.5 * zt2.shape[1] * math.log(2 * math.pi) + 0.5 * mask.sum(1) * math.log(var)


def standard_nll(zt: torch.Tensor) -> torch.Tensor:
    return 0.5 * (zt**2).sum(1) + 0.5 * zt.shape[1] * math.log(2 * math.pi)


class FactorLoss(nn.Module):
    """Mean over the batch of the pair NLL above, in nats; `symmetric` averages both conditionings."""

    def __init__(self, rho: float = 0.975, symmetric: bool = False):
        super().__init__()
        if not 0.0 <= rho < 1.0:
            raise ValueError(f"rho must be in [0, 1), got {rho}")
        self.rho, self.symmetric = rho, symmetric

    def per_pair(self, zt1: torch.Tensor, log_det1: torch.Tensor, zt2: torch.Tensor, log_det2: torch.Tensor,
                 mask: torch.Tensor) -> torch.Tensor:
        """The pair NLL of every pair (B,), in nats."""
        loss = standard_nll(zt1) - log_det1 + factor_pair_nll(zt1, zt2, mask, self.rho) - log_det2
        if self.symmetric:
            loss = 0.5 * (loss + standard_nll(zt2) - log_det2 + factor_pair_nll(zt2, zt1, mask, self.rho) - log_det1)
        return loss

    def forward(self, zt1: torch.Tensor, log_det1: torch.Tensor, zt2: torch.Tensor, log_det2: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        return self.per_pair(zt1, log_det1, zt2, log_det2, mask).mean()
