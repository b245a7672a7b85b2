"""Interface, errors, hook hygiene and determinism of every attribution method."""
from __future__ import annotations

import pytest
import torch
from attribution_toys import Bomb, RegionNet, conv_net, region_images, region_mask
from torch import nn

from iin.attribution import (METHODS, ActivationMaximization, AttributionError, DeepDream, GradCAM, HiResCAM,
                             normalize, overlay)
from iin.backbones import UnknownLayerError

FAST = {"RISE": {"n_masks": 64}, "LIME": {"n_samples": 64}, "Anchors": {"max_samples": 300},
        "ActivationMaximization": {"attribute_steps": 3}, "DeepDream": {"steps": 2, "octaves": 2}}


@pytest.mark.parametrize("name", list(METHODS))
def test_every_method_returns_raw_maps_at_input_resolution(name):
    model, x = conv_net(), torch.rand(2, 3, 16, 16)
    maps = METHODS[name](model, **FAST.get(name, {})).attribute(x, target=1)
    assert maps.shape == (2, 1, 16, 16) and maps.dtype == torch.float32
    assert torch.isfinite(maps).all() and maps.abs().sum() > 0


@pytest.mark.parametrize("name", ["RISE", "LIME", "Anchors", "ActivationMaximization", "DeepDream"])
def test_stochastic_methods_are_seeded(name):
    model, x = conv_net(), torch.rand(1, 3, 16, 16)
    first = METHODS[name](model, seed=3, **FAST.get(name, {})).attribute(x, 0)
    torch.manual_seed(123)  # the global RNG must not matter
    assert torch.equal(first, METHODS[name](model, seed=3, **FAST.get(name, {})).attribute(x, 0))


def test_region_model_attributions_point_at_the_region():
    model, x, inside = RegionNet(), region_images(2), region_mask()
    for name in ("Saliency", "HiResCAM", "GuidedBackprop", "Occlusion", "RISE", "LIME", "Anchors"):
        settings = {"HiResCAM": {"layer": "relu"}, "RISE": {"n_masks": 500}, "LIME": {"n_samples": 300},
                    "Anchors": {"max_samples": 1000}}.get(name, {})
        maps = METHODS[name](model, **settings).attribute(x, 0)
        region, rest = maps[inside.expand_as(maps)], maps[~inside.expand_as(maps)]
        if name == "Anchors":  # a sparse set of superpixels that covers the region
            assert region.mean() > 4 * rest.mean()
        else:  # the region stands out of the rest
            assert region.mean() - rest.mean() > 3 * rest.std(), name


def test_wrong_target_index_is_a_clear_error():
    with pytest.raises(AttributionError, match=r"target class index 7 is out of range.*valid 0\.\.4"):
        GradCAM(conv_net()).attribute(torch.rand(1, 3, 16, 16), target=7)
    with pytest.raises(AttributionError, match="2 targets for a batch of 3"):
        GradCAM(conv_net()).attribute(torch.rand(3, 3, 16, 16), target=[0, 1])
    with pytest.raises(AttributionError, match="channel index 99"):
        DeepDream(conv_net(), layer="0.3").attribute(torch.rand(1, 3, 16, 16), target=99)
    with pytest.raises(AttributionError, match="class index 5"):
        ActivationMaximization(conv_net()).visualize([5], size=(16, 16))


def test_wrong_input_shape_is_a_clear_error():
    with pytest.raises(AttributionError, match=r"expected an image batch \(B, C, H, W\), got \(3, 16, 16\)"):
        GradCAM(conv_net()).attribute(torch.rand(3, 16, 16))
    with pytest.raises(AttributionError, match="1 channels but the model's first conv expects 3"):
        METHODS["RISE"](conv_net()).attribute(torch.rand(1, 1, 16, 16))


def test_layer_not_in_the_model_is_a_clear_error():
    with pytest.raises(UnknownLayerError, match=r"has no layer 'block9'; valid layers: 0, 0\.0"):
        HiResCAM(conv_net(), layer="block9")
    with pytest.raises(AttributionError, match="not a submodule"):
        GradCAM(conv_net(), layer=nn.Conv2d(3, 3, 1))


@pytest.mark.parametrize("call", [
    lambda m, x, t: GradCAM(m, layer="1")._attribute(x, t),
    lambda m, x, t: HiResCAM(m)._attribute(x, t),  # the default-layer probe raises too
    lambda m, x, t: DeepDream(m, layer="1", steps=1).dream(x),
    lambda m, x, t: ActivationMaximization(m, layer="1", kind="channel", attribute_steps=1)._attribute(x, t)])
def test_hooks_are_removed_when_the_forward_raises(call):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), Bomb())
    with pytest.raises(RuntimeError, match="boom"):
        call(model, torch.rand(1, 3, 8, 8), torch.zeros(1, dtype=torch.long))
    assert all(not m._forward_hooks and not m._backward_hooks for m in model.modules())


def test_hooks_are_removed_after_a_normal_call():
    model = conv_net()
    for name in METHODS:
        METHODS[name](model, **FAST.get(name, {})).attribute(torch.rand(1, 3, 16, 16))
    assert all(not m._forward_hooks and not m._backward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_default_layer_is_the_last_conv_output_after_its_nonlinearity():
    from iin.backbones import TinyCNN

    model = conv_net(head="gap")
    assert GradCAM(model).layer(torch.rand(1, 3, 16, 16)) is model[0][3]  # not the 1x1 pooled map
    tiny = TinyCNN(width=4, depth=3)
    assert GradCAM(tiny).layer(torch.rand(1, 3, 32, 32)) is tiny.block3[2]  # ReLU at 8x8, before the max pool


def test_activation_maximization_raises_its_target():
    model = conv_net()
    images = ActivationMaximization(model, steps=24, lr=0.1, seed=0).visualize([2], size=(16, 16))
    assert images.shape == (1, 3, 16, 16) and 0 <= images.min() and images.max() <= 1
    typical = model(torch.rand(64, 3, 16, 16))[:, 2]  # the logit on random images
    assert model(images).argmax() == 2 and model(images)[0, 2] > typical.max()


def test_deepdream_amplifies_the_layer():
    model, x = conv_net(), torch.rand(2, 3, 16, 16) * 0.5
    dd = DeepDream(model, layer="0.3", steps=5, octaves=2, jitter=0)  # no jitter: the stride-2 phase stays put
    before = (model[0](x) ** 2).mean()
    assert (model[0](dd.dream(x)) ** 2).mean() > 1.5 * before


def test_normalize_and_overlay():
    maps = torch.arange(2 * 16.0).reshape(2, 1, 4, 4)
    n = normalize(maps, percentile=100)
    assert n.amin(dim=(1, 2, 3)).eq(0).all() and n.amax(dim=(1, 2, 3)).eq(1).all()
    blended = overlay(torch.zeros(2, 3, 4, 4), maps, alpha=1.0, cmap="gray")
    assert blended.shape == (2, 3, 4, 4) and torch.allclose(blended[:, 0], n[:, 0], atol=2 / 255)
