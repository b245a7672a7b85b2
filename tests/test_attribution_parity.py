"""Parity with the reference implementations: grad-cam, captum, a naive RISE loop, fresh anchor resampling."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from attribution_toys import conv_net
from captum.attr import Occlusion as CaptumOcclusion
from torch import nn

from iin.attribution import LIME, RISE, Anchors, GradCAM, HiResCAM, Occlusion, Saliency
from iin.attribution.superpixels import compose, grid_segments


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.mark.parametrize("ours, reference", [(GradCAM, "GradCAM"), (HiResCAM, "HiResCAM")])
def test_cams_match_the_grad_cam_package(ours, reference):
    import pytorch_grad_cam
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model, x = conv_net(seed=1), torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    target = model(x).argmax(1)
    maps = ours(model, layer="0.3").attribute(x, target)[:, 0].numpy()
    with getattr(pytorch_grad_cam, reference)(model=model, target_layers=[model[0][3]]) as cam:
        expected = cam(input_tensor=x, targets=[ClassifierOutputTarget(int(t)) for t in target])
    for ours_map, ref_map in zip(maps, expected):
        assert ours_map.std() > 0 and _corr(ours_map, ref_map) >= 0.99


def test_gradcam_and_hirescam_differ_without_global_pooling():
    model, x = conv_net(seed=1), torch.rand(2, 3, 16, 16)
    assert not torch.allclose(GradCAM(model, "0.3").attribute(x, 0), HiResCAM(model, "0.3").attribute(x, 0))


def test_saliency_equals_captum_and_the_autograd_gradient():
    from captum.attr import Saliency as CaptumSaliency

    model, x = conv_net(), torch.rand(3, 3, 16, 16)
    target = torch.tensor([0, 3, 4])
    reference = CaptumSaliency(model).attribute(x.clone(), target=target, abs=True).amax(1, keepdim=True)
    xg = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(xg).gather(1, target[:, None]).sum(), xg)
    ours = Saliency(model).attribute(x, target)
    assert torch.equal(ours, reference) and torch.allclose(ours, grad.abs().amax(1, keepdim=True))


def test_occlusion_equals_captum():
    model, x = conv_net(), torch.rand(2, 3, 16, 16)
    reference = CaptumOcclusion(model).attribute(x, sliding_window_shapes=(3, 4, 4), strides=(3, 2, 2),
                                                 baselines=0.0, target=2)
    ours = Occlusion(model, window=4, stride=2).attribute(x, 2)
    assert torch.allclose(ours, reference[:, :1], atol=1e-6) and torch.allclose(reference[:, :1], reference[:, 2:])


def test_rise_equals_a_naive_one_mask_at_a_time_loop():
    model, x = conv_net(head="gap"), torch.rand(2, 3, 16, 16)
    rise = RISE(model, n_masks=50, cells=4, p=0.3, chunk=16, seed=5)
    masks = torch.cat(list(rise.masks((16, 16), x.device)))  # (N, 1, H, W)
    assert masks.shape == (50, 1, 16, 16) and 0 <= masks.min() and masks.max() <= 1
    target = torch.tensor([1, 3])
    naive = torch.zeros(2, 1, 16, 16)
    with torch.no_grad():
        for i in range(2):
            for m in masks:
                naive[i] += model(x[i:i + 1] * m).softmax(1)[0, target[i]] * m
    assert torch.allclose(rise.attribute(x, target), naive / (50 * 0.3), rtol=1e-4, atol=1e-6)


def test_rise_masks_follow_the_paper():
    masks = torch.cat(list(RISE(conv_net(), n_masks=2000, cells=4, p=0.3, seed=0).masks((16, 16), "cpu")))
    assert abs(masks.mean().item() - 0.3) < 0.02  # E[M] = p after bilinear upsampling and cropping
    assert not torch.equal(masks[0], masks[1])


def test_lime_recovers_the_superpixel_weights_of_a_linear_model():
    image = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0)) * 0.5 + 0.25
    segments = grid_segments((16, 16), 9)  # (H, W) labels 0..8
    weights = torch.linspace(-1, 1, int(segments.max()) + 1)

    class Linear(nn.Module):  # P(class 0) = 0.5 + 0.1 * sum_j w_j * (mean brightness of superpixel j present)
        def forward(self, x):
            present = torch.stack([x[:, :, segments == j].mean(dim=(1, 2)) for j in range(len(weights))], 1)
            p = 0.5 + 0.1 * present @ weights / image.mean()
            return torch.stack([p, 1 - p], 1).clamp_min(1e-6).log()

    coef = LIME(Linear(), n_samples=400, alpha=1e-3).explain(image, 0, segments)
    assert _corr(coef.numpy(), weights.numpy()) > 0.95


def test_weighted_ridge_equals_sklearn_ridge_with_sample_weights():
    from sklearn.linear_model import Ridge

    from iin.attribution.surrogate import weighted_ridge

    g = torch.Generator().manual_seed(0)
    z = torch.randint(0, 2, (300, 12), generator=g).float()  # (n, S) on/off patterns
    y, w = torch.rand(300, generator=g), torch.rand(300, generator=g)
    coef, intercept = weighted_ridge(z, y, w, alpha=1.0)
    reference = Ridge(alpha=1.0).fit(z.numpy(), y.numpy(), sample_weight=w.numpy())
    assert np.allclose(coef.numpy(), reference.coef_, atol=1e-6) and abs(intercept.item() - reference.intercept_) < 1e-6


def straightforward_lime(model: nn.Module, image: torch.Tensor, segments: torch.Tensor, z: torch.Tensor, target: int,
                         kernel_width: float = 0.25, alpha: float = 1.0) -> np.ndarray:
    """LIME as lime_image does it: one perturbed image per pattern, one forward each, sklearn cosine kernel + Ridge."""
    from sklearn.linear_model import Ridge
    from sklearn.metrics import pairwise_distances

    probs = []
    with torch.no_grad():
        for row in z:
            off = torch.isin(segments, torch.nonzero(row == 0).flatten())  # (H, W) pixels switched off
            probs.append(model(torch.where(off, 0.0, image)[None]).softmax(1)[0, target].item())
    d = pairwise_distances(z.numpy(), np.ones((1, z.shape[1])), metric="cosine").ravel()
    weights = np.sqrt(np.exp(-(d**2) / kernel_width**2))
    return Ridge(alpha=alpha).fit(z.numpy(), np.array(probs), sample_weight=weights).coef_


def test_lime_equals_a_straightforward_per_sample_reference():
    model = conv_net(head="gap")
    image = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(1))
    image[:, :, :6] = 0  # a black band: the superpixels there change nothing when switched off (deduplicated)
    segments = grid_segments((16, 16), 16)  # (H, W) labels 0..15
    lime = LIME(model, n_samples=200, batch_size=64, seed=3)
    ours = lime.explain(image, 2, segments)
    reference = straightforward_lime(model, image, segments, lime.samples(16, image.device), 2)
    assert np.allclose(ours.numpy(), reference, atol=1e-5)


def test_anchor_precision_is_confirmed_by_fresh_resampling():
    image = torch.full((3, 16, 16), 0.6)

    class Bright(nn.Module):  # class 0 iff more than half of the image's brightness survives
        def forward(self, x):
            a = 20 * (x.mean(dim=(1, 2, 3)) - 0.3)
            return torch.stack([a, -a], 1)

    model = Bright().eval()
    anchors = Anchors(model, n_segments=16, threshold=0.9, batch_size=16, max_samples=4000, seed=0)
    segments = grid_segments((16, 16), 16)
    anchor = anchors.explain(image, 0, segments)
    assert 1 <= len(anchor.features) < 16 and anchor.n_samples >= 16
    assert torch.equal(anchor.mask, sum(segments == f for f in anchor.features).bool())
    z = torch.rand(20_000, 16, generator=torch.Generator().manual_seed(99)) < 0.5
    z[:, list(anchor.features)] = True
    fresh = (model(compose(image, segments, z, 0.0)).argmax(1) == 0).float().mean().item()
    stderr = (fresh * (1 - fresh) / anchor.n_samples) ** 0.5
    assert abs(fresh - anchor.precision) < 3 * stderr + 0.01
    assert abs(anchor.coverage - 0.5 ** len(anchor.features)) < 0.03
