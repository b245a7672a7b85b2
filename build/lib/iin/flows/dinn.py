"""DisentanglingINN: T maps a flat representation z to semantic factors (zt_1 .. zt_K, zt_res).

T(z) = flow(((z - mean) / std)[active]); the standardisation is a fixed affine map (buffers), so T stays
exactly invertible. Units that are constant on the training data (dead ReLUs) carry nothing: T leaves them
out (`constant_units`) and T^-1 restores their value, so the flow and N(0, I) cover only units that vary.
The factors are consecutive slices of zt in the order of `factor_dims`, the residual included under its
own name at an explicit position.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import torch
from torch import nn

from .blocks import coupling_stack
from .embedders import Standardize

RESIDUAL = "residual"


class DisentanglingINN(nn.Module):
    """FrEIA contract: `forward(z, rev=False, jac=True) -> (out, log_det)`; `split`/`merge` name the factors."""

    def __init__(self, dim: int, factor_dims: Mapping[str, int], depth: int = 12, width: int = 512,
                 clamp: float = 2.0, hidden_layers: int = 2, constant_units: Sequence[int] = ()):
        super().__init__()
        self.factor_dims = {k: int(v) for k, v in factor_dims.items()}
        active = torch.ones(dim, dtype=torch.bool)
        active[list(constant_units)] = False
        n_active = int(active.sum())
        if sum(self.factor_dims.values()) != n_active or min(self.factor_dims.values()) < 1:
            raise ValueError(f"factor dimensions {self.factor_dims} must be >= 1 and sum to the {n_active} units of the "
                             f"representation that vary ({dim} units, {dim - n_active} constant on the training data)")
        self.dim, self.code_dim = dim, n_active
        self.register_buffer("active", active, persistent=False)  # rebuilt from constant_units
        self.norm = Standardize((dim,))
        self.flow = coupling_stack(n_active, depth, width, clamp=clamp, hidden_layers=hidden_layers)

    @property
    def factors(self) -> list[str]:
        return list(self.factor_dims)

    def forward(self, x: torch.Tensor, c: Sequence[torch.Tensor] | None = None, rev: bool = False,
                jac: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """z (B, dim) -> zt (B, code_dim), or with rev zt -> z; and log|det| of the map on the varying units."""
        expected = self.code_dim if rev else self.dim
        if x.ndim != 2 or x.shape[1] != expected:
            raise ValueError(f"DisentanglingINN expects (B, {expected}){' codes' if rev else ''}, got {tuple(x.shape)}")
        log_std = self.norm.std[self.active].log().sum()
        if not rev:
            out, log_det = self.flow(self.norm(x)[:, self.active], jac=jac)
            return out, log_det - log_std
        u, log_det = self.flow(x, rev=True, jac=jac)
        full = u.new_zeros(len(u), self.dim)
        full[:, self.active] = u  # constant units stay at their standardised value 0, i.e. their mean
        return full * self.norm.std + self.norm.mean, log_det + log_std

    def slices(self) -> dict[str, slice]:
        bounds = [0] + list(torch.tensor(list(self.factor_dims.values())).cumsum(0).tolist())
        return {k: slice(a, b) for k, a, b in zip(self.factor_dims, bounds, bounds[1:])}

    def mask(self, factor: torch.Tensor) -> torch.Tensor:
        """(B,) factor indices -> (B, code_dim) float mask of each example's factor dimensions."""
        owner = torch.repeat_interleave(torch.arange(len(self.factor_dims)), torch.tensor(list(self.factor_dims.values())))
        return (owner.to(factor.device)[None, :] == factor[:, None]).float()

    def split(self, zt: torch.Tensor) -> dict[str, torch.Tensor]:
        return {k: zt[:, s] for k, s in self.slices().items()}

    def merge(self, parts: Mapping[str, torch.Tensor]) -> torch.Tensor:
        missing = [k for k in self.factor_dims if k not in parts]
        if missing:
            raise ValueError(f"merge needs every factor; missing {missing}")
        return torch.cat([parts[k] for k in self.factor_dims], dim=1)


def constant_units(z: torch.Tensor) -> list[int]:
    """Indices of the units of z (N, D) that take one value on every example (e.g. dead ReLUs)."""
    return (z == z[:1]).all(0).nonzero().flatten().tolist()


def allocate_dims(scores: Mapping[str, float], dim: int, temperature: float = 1.0) -> dict[str, int]:
    """Softmax allocation N_k = N * exp(s_k / T) / sum_j exp(s_j / T), rounded (largest remainder, >= 1 each)."""
    names = list(scores)
    w = torch.softmax(torch.tensor([scores[k] for k in names], dtype=torch.float64) / temperature, 0)
    share = (w * (dim - len(names))).tolist()  # the 1-per-factor minimum is reserved first
    base = [math.floor(s) for s in share]
    for i in sorted(range(len(names)), key=lambda i: base[i] - share[i])[: dim - len(names) - sum(base)]:
        base[i] += 1
    return {k: b + 1 for k, b in zip(names, base)}
