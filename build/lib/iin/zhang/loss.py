"""Part templates, the forward mask and the mutual-information filter loss of interpretable CNNs.

Zhang, Wu, Zhu, "Interpretable Convolutional Neural Networks" (CVPR 2018), section 3.
For an n x n feature map (positions (i, j), n = max(H, W)) there are n^2 positive templates
T_mu, one per peak position mu, and one negative template T^-:

    T_mu(i, j) = tau * max(1 - beta * ||(i, j) - mu||_1 / n, -1),        T^-(i, j) = -tau,

with priors p(T_mu) = alpha / n^2 and p(T^-) = 1 - alpha.
"""
from __future__ import annotations

import math
from functools import lru_cache

import torch


@lru_cache(maxsize=8)
def mask_templates(h: int, w: int, beta: float = 4.0) -> torch.Tensor:
    """Unscaled positive templates max(1 - beta ||(i, j) - mu||_1 / n, -1), (H*W positions mu, H, W)."""
    n = max(h, w)
    i, j = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")  # (H, W) each
    mu_i, mu_j = i.reshape(-1, 1, 1), j.reshape(-1, 1, 1)  # (H*W, 1, 1)
    dist = (i[None] - mu_i).abs() + (j[None] - mu_j).abs()  # (H*W, H, W)
    return (1 - beta * dist.float() / n).clamp(min=-1.0)


def templates(h: int, w: int, tau: float, beta: float = 4.0) -> torch.Tensor:
    """tau * positive templates followed by the negative template T^-: (H*W + 1, H, W)."""
    positive = tau * mask_templates(h, w, beta)
    return torch.cat([positive, torch.full((1, h, w), -tau)])


def template_log_prior(h: int, w: int, alpha: float) -> torch.Tensor:
    """log p(T): log(alpha / n^2) for the H*W positive templates, log(1 - alpha) for T^- (H*W + 1,)."""
    positive = torch.full((h * w,), math.log(alpha / (h * w)))
    return torch.cat([positive, torch.tensor([math.log(1 - alpha)])])


def template_entropy(h: int, w: int, alpha: float) -> float:
    """H(T) = -sum_T p(T) log p(T), the upper bound of MI(X; T)."""
    log_p = template_log_prior(h, w, alpha)
    return float(-(log_p.exp() * log_p).sum())


def apply_mask(x: torch.Tensor, beta: float = 4.0) -> torch.Tensor:
    """Forward mask around each map's peak mu_hat = argmax x: relu(x * max(1 - beta ||. - mu_hat||_1 / n, -1))."""
    b, c, h, w = x.shape
    peak = x.detach().flatten(2).argmax(-1)  # (B, C, H, W) -> (B, C) flat peak index
    mask = mask_templates(h, w, beta).to(x)[peak]  # (B, C, H, W), no gradient through the argmax
    return torch.relu(x * mask)


def normalise(x: torch.Tensor, positive: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """x / s_f with s_f = mean over the filter's positive images of sum_ij x(i, j) (detached).

    Then tr(xhat . T_mu) is tau times a weighted average of the template for a map of average mass:
    largest (tau) when all of it sits at mu. The loss neither vanishes (tiny activations: every
    p(x | T) uniform) nor explodes (huge ones: one-hot softmaxes), whatever the activation scale.
    """
    mass = x.detach().flatten(2).sum(-1)  # (B, F, H, W) -> (B, F)
    count = positive.sum(0).clamp(min=1)
    scale = (mass * positive).sum(0) / count  # (F,)
    return x / (scale.clamp(min=eps)[None, :, None, None])


def mutual_information(x: torch.Tensor, positive: torch.Tensor | None = None, tau: float = 1.0,
                       alpha: float = 0.5, beta: float = 4.0) -> torch.Tensor:
    """MI(X; T) per filter over the batch, (F,), differentiable in x (B, F, H, W) by autograd.

    With xhat the normalised map and L(x, T) = tr(xhat^T T) = sum_ij xhat(i, j) T(i, j),
        p(x | T)   = exp(L(x, T)) / sum_{x' in A(T)} exp(L(x', T)),
        p(x)       = sum_T p(T) p(x | T),
        MI(X; T)   = sum_T p(T) sum_x p(x | T) log(p(x | T) / p(x)),
    where A(T^-) is the whole batch and A(T_mu) the images positive for the filter (its category;
    all images when `positive` is None), so negatives can only be explained by T^-.
    Filters without a positive image in the batch get MI = 0.
    """
    b, f, h, w = x.shape
    positive = torch.ones(b, f, dtype=torch.bool, device=x.device) if positive is None else positive.bool()
    xhat = normalise(x, positive)
    logits = torch.einsum("bfhw,thw->bft", xhat, templates(h, w, tau, beta).to(x))  # (B, F, T)
    has_positive = positive.any(0)  # (F,)
    eligible = positive | ~has_positive  # keeps every softmax finite; those filters are zeroed below
    allowed = torch.cat([eligible[..., None].expand(b, f, h * w), positive.new_ones(b, f, 1)], -1)  # (B, F, T)
    log_px_t = torch.log_softmax(logits.masked_fill(~allowed, -math.inf), dim=0)  # normalised over the batch
    log_px_t = log_px_t.masked_fill(~allowed, 0.0)  # placeholders, excluded below (no inf in the backward)
    log_prior = template_log_prior(h, w, alpha).to(x)  # (T,)
    log_px = torch.logsumexp((log_prior + log_px_t).masked_fill(~allowed, -math.inf), dim=-1, keepdim=True)
    terms = torch.where(allowed, log_px_t.exp() * (log_px_t - log_px), torch.zeros_like(logits))
    mi = (log_prior.exp() * terms.sum(0)).sum(-1)  # (F,)
    return torch.where(has_positive, mi, torch.zeros_like(mi))


def filter_loss(x: torch.Tensor, positive: torch.Tensor | None = None, **template_options: float) -> torch.Tensor:
    """Loss_f = -MI(X; T), averaged over the filters of the interpretable layer."""
    return -mutual_information(x, positive, **template_options).mean()
