"""The frozen forward of the perturbation methods: equal to the model, the model untouched, a clean fallback."""
from __future__ import annotations

import pytest
import torch
from attribution_toys import conv_net
from torch import nn

from iin.attribution import Occlusion
from iin.inference import fast, frozen
from iin.backbones import TinyCNN


class ValueBranch(nn.Module):
    """Python control flow on a tensor value: a trace would bake in one branch."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x).mean(dim=(2, 3))  # (B, 4)
        return h if x.mean() > 0.5 else -h


class DictOutput(nn.Module):
    """Returns a dict: traceable only with strict=False, so freezing fails."""

    def forward(self, x: torch.Tensor) -> dict:
        return {"logits": x.mean(dim=(2, 3))}


def resnet18() -> nn.Module:
    from torchvision.models import resnet18 as build

    torch.manual_seed(0)
    model = build(weights=None, num_classes=10).eval()
    for m in model.modules():  # non-trivial batch-norm statistics, so folding them is really tested
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return model


@pytest.mark.parametrize("build", [lambda: (torch.manual_seed(0), TinyCNN().eval())[1], resnet18],
                         ids=["TinyCNN", "resnet18"])
def test_frozen_forward_equals_the_model_and_leaves_it_untouched(build):
    model = build()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    forward = frozen(model, x)
    assert forward is not model  # these models do freeze
    with torch.inference_mode():
        assert torch.allclose(forward(x), model(x), rtol=1e-4, atol=1e-4)
        assert torch.allclose(forward(x[:5] * 0.5), model(x[:5] * 0.5), rtol=1e-4, atol=1e-4)  # other batch
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert not model.training


def test_freezing_restores_the_training_flags():
    model = TinyCNN().train()
    model.block1.eval()
    frozen(model, torch.rand(2, 3, 32, 32))
    assert model.training and not model.block1.training and model.block2.training


@pytest.mark.parametrize("model", [ValueBranch(), DictOutput()], ids=["value-branch", "dict-output"])
def test_an_untraceable_model_falls_back_to_itself(model):
    assert frozen(model.eval(), torch.rand(2, 3, 8, 8)) is model


def test_occlusion_uses_the_frozen_forward_and_keeps_its_result():
    model, x = conv_net(), torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    method = Occlusion(model, window=4, stride=2)
    ours = method.attribute(x, 2)
    method.inference = lambda _x: model  # the plain eager forward
    assert torch.allclose(ours, method.attribute(x, 2), atol=1e-5)


def test_fast_builds_one_frozen_copy_per_model_and_falls_back_to_the_model():
    torch.manual_seed(0)
    model, x = TinyCNN().eval(), torch.rand(4, 3, 32, 32)
    forward = fast(model, x)
    assert forward is not model and fast(model, x) is forward  # built once, reused
    assert torch.allclose(forward(x), model(x), atol=1e-4)
    branchy = ValueBranch()
    assert fast(branchy, x) is branchy and fast(branchy, x) is branchy  # untraceable: the model itself, every time


def test_fast_builds_a_copy_per_input_shape():
    torch.manual_seed(0)
    model = resnet18()  # adaptive pooling: any image size
    small, large = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 64, 64)
    assert fast(model, small) is not fast(model, large)
    assert torch.allclose(fast(model, large)(large), model(large), atol=1e-4)
