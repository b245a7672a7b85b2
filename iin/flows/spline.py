"""Rational-quadratic spline coupling (Durkan, Bekasov, Murray, Papamakarios, "Neural Spline Flows", NeurIPS 2019).

Each transformed dimension goes through a monotone piecewise rational-quadratic function on [-B, B] with K bins,
whose bin widths, heights and inner knot derivatives the subnet predicts; outside [-B, B] it is the identity
(linear tails, slope 1 at both ends, so the map is continuous with its derivative). Where an affine coupling can
only shift and scale a dimension, a spline can bend it: a few blocks move mass out of the holes of a multimodal
or ring-shaped density that many affine blocks only thin out.
With zero subnet outputs every bin is uniform with knot derivatives 1: the coupling starts as the identity.
"""
from __future__ import annotations

import math

import FrEIA.modules as Fm
import torch
import torch.nn.functional as F

MIN_BIN = 1e-3  # of the interval's width and height: no bin collapses
MIN_DERIVATIVE = 1e-3
DERIVATIVE_SHIFT = math.log(math.expm1(1 - MIN_DERIVATIVE))  # softplus(0 + shift) + MIN_DERIVATIVE = 1


def _knots(raw: torch.Tensor, bound: float) -> torch.Tensor:
    """Unnormalised bin sizes (..., K) -> knot positions (..., K + 1) from -bound to bound."""
    k = raw.shape[-1]
    size = MIN_BIN + (1 - MIN_BIN * k) * torch.softmax(raw, dim=-1)
    inner = 2 * bound * torch.cumsum(size[..., :-1], dim=-1) - bound  # (..., K - 1): the ends are exact
    return torch.cat([torch.full_like(size[..., :1], -bound), inner, torch.full_like(size[..., :1], bound)], dim=-1)


def rational_quadratic_spline(x: torch.Tensor, params: torch.Tensor, bound: float,
                              rev: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """y = g(x) (or x = g^-1(y) with rev) and log|dg/dx| per element (minus it with rev).

    x (B, D); params (B, D, 3K - 1): K widths, K heights, K - 1 inner derivatives (all unconstrained).
    """
    k = (params.shape[-1] + 1) // 3
    inside = (x >= -bound) & (x <= bound)
    xs = x.clamp(-bound, bound)
    knots = _knots(params[..., :2 * k].unflatten(-1, (2, k)), bound)  # (B, D, 2, K + 1): x and y knots
    inner = F.softplus(params[..., 2 * k:] + DERIVATIVE_SHIFT) + MIN_DERIVATIVE
    ones = torch.ones_like(inner[..., :1])
    derivatives = torch.cat([ones, inner, ones], dim=-1)  # (B, D, K + 1): slope 1 at both ends, as the tails

    searched = knots[..., 1 if rev else 0, 1:-1].contiguous()  # (B, D, K - 1): the inner knots of the input side
    idx = torch.searchsorted(searched.detach(), xs.detach()[..., None], right=True)  # (B, D, 1), in 0..K-1
    left = torch.stack([knots[..., 0, :-1], knots[..., 1, :-1], derivatives[..., :-1]], dim=-2)  # (B, D, 3, K)
    right = torch.stack([knots[..., 0, 1:], knots[..., 1, 1:], derivatives[..., 1:]], dim=-2)
    at = idx[..., None, :].expand(-1, -1, 3, -1)  # (B, D, 3, 1)
    (x_k, y_k, d_k), (x_k1, y_k1, d_k1) = left.gather(-1, at)[..., 0].unbind(-1), right.gather(-1, at)[..., 0].unbind(-1)
    w_k, h_k = x_k1 - x_k, y_k1 - y_k
    delta = h_k / w_k
    curve = d_k1 + d_k - 2 * delta

    if rev:  # solve the quadratic a xi^2 + b xi + c = 0 in its stable form
        dy = xs - y_k
        a = h_k * (delta - d_k) + dy * curve
        b = h_k * d_k - dy * curve
        c = -delta * dy
        xi = (2 * c) / (-b - torch.sqrt((b * b - 4 * a * c).clamp_min(0)))
        out = xi * w_k + x_k
    else:
        xi = (xs - x_k) / w_k
        out = y_k + h_k * (delta * xi * xi + d_k * xi * (1 - xi)) / (delta + curve * xi * (1 - xi))
    t = xi * (1 - xi)
    log_det = (2 * torch.log(delta) + torch.log(d_k1 * xi * xi + 2 * delta * t + d_k * (1 - xi) ** 2)
               - 2 * torch.log(delta + curve * t))
    out = torch.where(inside, out, x)
    log_det = torch.where(inside, log_det, torch.zeros_like(log_det))
    return out, -log_det if rev else log_det


class SplineCouplingBlock(Fm.AllInOneBlock):
    """AllInOneBlock with a rational-quadratic spline coupling in place of the affine one: the passive half and
    the condition predict K-bin splines for the active half; the global affine scaling and the soft permutation
    are AllInOneBlock's own. FrEIA contract: `forward(x, c, rev, jac) -> ((out,), log_det)`."""

    def __init__(self, dims_in, dims_c=(), subnet_constructor=None, bins: int = 8, tail_bound: float = 5.0,
                 **kwargs):
        super().__init__(dims_in, list(dims_c), subnet_constructor=subnet_constructor, **kwargs)
        self.bins, self.tail_bound = int(bins), float(tail_bound)
        # AllInOneBlock built its subnet for 2 coefficients per dimension; a spline needs 3K - 1
        self.subnet = subnet_constructor(self.splits[0] + self.condition_channels, self.splits[1] * (3 * self.bins - 1))

    def _affine(self, x: torch.Tensor, a: torch.Tensor, rev: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        dtype = torch.promote_types(x.dtype, torch.float32)  # the spline in float32 at least, also under autocast
        params = a.to(dtype).reshape(len(a), x.shape[1], 3 * self.bins - 1)  # (B, D*(3K-1)) -> (B, D, 3K-1)
        out, log_det = rational_quadratic_spline(x.to(dtype), params, self.tail_bound, rev=rev)
        return out, log_det.sum(1)
