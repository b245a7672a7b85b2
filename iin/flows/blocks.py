"""FrEIA building blocks: zero-initialised subnets (each block starts at identity) and coupling stacks."""
from __future__ import annotations

from typing import Callable

import FrEIA.framework as Ff
import FrEIA.modules as Fm
import torch
from torch import nn


class FullPrecision(nn.Module):
    """Hands a half-precision subnet output on in float32: under bfloat16 autocast the matrix products run in low
    precision, while the coupling's scales, shifts and log-determinant are computed in float32."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def subnet_fc(width: int, hidden_layers: int = 2) -> Callable[[int, int], nn.Module]:
    """`subnet_constructor(c_in, c_out)`: an MLP whose last layer is zero, so the coupling is the identity."""

    def constructor(c_in: int, c_out: int) -> nn.Module:
        layers: list[nn.Module] = []
        dims = [c_in] + [width] * hidden_layers
        for a, b in zip(dims, dims[1:]):
            layers += [nn.Linear(a, b), nn.LeakyReLU(0.1)]
        last = nn.Linear(dims[-1], c_out)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        return nn.Sequential(*layers, last, FullPrecision())

    return constructor


def coupling_stack(dim: int, depth: int, width: int, cond_dim: int | None = None,
                   clamp: float = 2.0, hidden_layers: int = 2) -> Ff.SequenceINN:
    """`depth` AllInOneBlocks (affine coupling + activation normalisation + soft permutation) over `dim`.

    Each block maps x -> (y, log|det J|); with `cond_dim` every block sees the same condition c[0]. Each subnet
    has `hidden_layers` layers of `width` units.
    """
    if dim < 2:
        raise ValueError(f"a coupling flow needs at least 2 dimensions, got {dim}")
    inn = Ff.SequenceINN(dim)
    for _ in range(depth):
        inn.append(Fm.AllInOneBlock, cond=None if cond_dim is None else 0,
                   cond_shape=None if cond_dim is None else (cond_dim,),
                   subnet_constructor=subnet_fc(width, hidden_layers), affine_clamping=clamp, permute_soft=True)
    return inn
