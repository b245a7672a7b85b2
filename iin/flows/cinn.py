"""InvarianceCINN: v = tau(zbar | z), the invariances of a representation z = Phi_l(x).

tau is a conditional coupling flow over the autoencoder latent zbar (dimension D); the embedding of z
conditions every block. Trained by maximum likelihood, v ~ N(0, I) is what z does not determine:
    -log p(zbar | z) = 0.5 * |v|^2 + 0.5 * D * log(2 pi) - log|det d tau / d zbar|.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .blocks import coupling_stack
from .embedders import make_embedder


class InvarianceCINN(nn.Module):
    """FrEIA contract: `forward(zbar, c=[z], rev=False, jac=True) -> (out, log_det)`."""

    def __init__(self, z_dim: int, cond_shape: Sequence[int], depth: int = 12, width: int = 512,
                 embed_dim: int = 128, embed_width: int = 256, conv_width: int = 64, clamp: float = 2.0,
                 hidden_layers: int = 2, conv_grid: int | None = None):
        super().__init__()
        self.z_dim, self.cond_shape = z_dim, tuple(cond_shape)
        self.embedder = make_embedder(self.cond_shape, embed_dim, embed_width, conv_width, conv_grid)
        self.flow = coupling_stack(z_dim, depth, width, cond_dim=embed_dim, clamp=clamp,
                                   hidden_layers=hidden_layers)

    def _check(self, x: torch.Tensor, z: torch.Tensor) -> None:
        if x.ndim != 2 or x.shape[1] != self.z_dim:
            raise ValueError(f"InvarianceCINN expects inputs (B, {self.z_dim}), got {tuple(x.shape)}")
        if tuple(z.shape[1:]) != self.cond_shape:
            raise ValueError(f"InvarianceCINN was built for conditions {self.cond_shape}, got {tuple(z.shape[1:])}")

    def forward(self, x: torch.Tensor, c: Sequence[torch.Tensor] | torch.Tensor, rev: bool = False,
                jac: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        z = c[0] if isinstance(c, (list, tuple)) else c
        self._check(x, z)
        return self.flow(x, c=[self.embedder(z)], rev=rev, jac=jac)

    def sample(self, z: torch.Tensor, v: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """zbar = tau^-1(v | z); v ~ N(0, I) unless given."""
        if v is None:
            v = torch.randn(len(z), self.z_dim, generator=generator, device=z.device, dtype=z.dtype)
        return self(v, c=[z], rev=True, jac=False)[0]
