"""The interpretable-CNN filter loss: peaked maps win, negatives go to T^-, MI <= H(T), the forward mask."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from iin.zhang import apply_mask, filter_loss, mutual_information, template_entropy

H = W = 8


def peaked_maps(b: int = 32, f: int = 3, seed: int = 0) -> torch.Tensor:
    """One unit peak per map at a random position, (B, F, H, W)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.zeros(b, f, H * W)
    x.scatter_(2, torch.randint(H * W, (b, f, 1), generator=gen), 1.0)
    return x.view(b, f, H, W)


def test_peaked_maps_have_lower_loss_than_diffuse_ones():
    peaked = peaked_maps()
    diffuse = F.avg_pool2d(peaked, 5, stride=1, padding=2, count_include_pad=False)  # same peaks, spread out
    assert filter_loss(peaked, tau=2.0) < filter_loss(diffuse, tau=2.0) - 0.05
    flat = torch.ones_like(peaked)  # nothing to tell the images apart: MI = 0
    assert abs(float(filter_loss(flat, tau=2.0))) < 1e-5


def test_negatives_are_pushed_towards_the_negative_template():
    gen = torch.Generator().manual_seed(1)
    positive = torch.rand(32, 3, generator=gen) < 0.5
    x = (peaked_maps(seed=1) + 0.3 * torch.rand(32, 3, H, W, generator=gen)).requires_grad_()
    grad, = torch.autograd.grad(filter_loss(x, positive, tau=2.0), x)
    assert (grad[~positive] > 0).all()  # descent lowers every cell of a negative map
    assert grad[positive].sum() < 0  # and raises the positives
    quieter = torch.where(positive[..., None, None], x.detach(), 0.5 * x.detach())
    assert filter_loss(quieter, positive, tau=2.0) < filter_loss(x.detach(), positive, tau=2.0)


def test_mutual_information_never_exceeds_the_template_entropy():
    gen = torch.Generator().manual_seed(2)
    bound = template_entropy(H, W, alpha=0.5)
    for trial in range(20):
        x = torch.rand(16, 4, H, W, generator=gen) ** (1 + 10 * trial)  # from diffuse to very peaked
        positive = torch.rand(16, 4, generator=gen) < 0.6
        for tau in (0.5, 2.0, 20.0):
            mi = mutual_information(x, positive, tau=tau, alpha=0.5)
            assert (mi <= bound + 1e-5).all() and (mi >= -1e-5).all()


def test_filters_without_positive_images_give_zero_and_finite_gradients():
    x = torch.rand(8, 2, H, W, requires_grad=True)
    positive = torch.tensor([[True, False]] * 8)
    mi = mutual_information(x, positive)
    assert mi[1] == 0 and mi[0] > 0
    grad, = torch.autograd.grad(-mi.sum(), x)
    assert torch.isfinite(grad).all() and grad[:, 1].abs().max() == 0


def test_forward_mask_keeps_the_peak_and_silences_far_cells():
    x = torch.ones(1, 1, H, W)
    x[0, 0, 2, 3] = 5.0
    out = apply_mask(x, beta=4.0)
    assert out[0, 0, 2, 3] == 5.0
    assert out[0, 0, 7, 7] == 0 and out[0, 0, 2, 4] > 0  # |dist| = 9 is beyond n / beta; a neighbour is kept
