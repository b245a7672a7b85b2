"""Backbones from the registry, torchvision and _target_; FeatureExtractor contracts."""
import pytest
import torch
from torch import nn

from iin.backbones import FeatureExtractor, TinyCNN, UnknownLayerError, build_backbone, list_layers
from iin.checkpoint import CheckpointError

TAPS = {
    "resnet18": ["layer3.1.conv2", "avgpool"],
    "vgg11": ["features.8"],
    "alexnet": ["features.10", "classifier.4"],
    "mobilenet_v3_small": ["features.6", "avgpool"],
    "squeezenet1_1": ["features.12"],
}


class UserNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))

    def forward(self, x):
        return self.head(torch.relu(self.stem(x)))


@pytest.mark.parametrize("name", list(TAPS))
def test_torchvision_layers_at_64px(name):
    model = build_backbone({"name": name, "weights": None, "num_classes": 10})
    feats = FeatureExtractor(model, TAPS[name])(torch.rand(2, 3, 64, 64))
    assert list(feats) == TAPS[name] and all(f.shape[0] == 2 and torch.isfinite(f).all() for f in feats.values())


def test_user_module_and_target_config():
    feats = FeatureExtractor(UserNet(), ["stem", "head.1"])(torch.rand(3, 3, 16, 16))
    assert feats["stem"].shape == (3, 4, 14, 14) and feats["head.1"].shape == (3, 4)
    net = build_backbone({"_target_": "iin.backbones.TinyCNN", "width": 4, "hidden": 8})
    assert isinstance(net, TinyCNN) and "penultimate" in list_layers(net)


def test_extractor_is_frozen_and_eval_locked():
    ex = FeatureExtractor(TinyCNN(width=4, hidden=8), "block1")
    ex.train()
    assert not ex.model.training and not any(m.training for m in ex.model.modules())
    assert not any(p.requires_grad for p in ex.model.parameters())


def test_hooks_removed_even_when_forward_raises():
    model = TinyCNN(width=4, hidden=8)
    ex = FeatureExtractor(model, ["block1", "logits"])
    with pytest.raises(RuntimeError):
        ex(torch.rand(2, 5, 32, 32))  # wrong channel count raises inside the forward
    ex(torch.rand(2, 3, 32, 32))
    assert all(not m._forward_hooks for m in model.modules())


def test_unknown_layer_lists_valid_names():
    with pytest.raises(UnknownLayerError, match=r"no layer 'block9'.*valid layers: block1"):
        FeatureExtractor(TinyCNN(width=4, hidden=8), ["block9"])


def test_weights_from_file_and_missing_cache(tmp_path, monkeypatch):
    model = build_backbone({"name": "squeezenet1_1", "num_classes": 5})
    path = tmp_path / "w.pt"
    torch.save(model.state_dict(), path)
    loaded = build_backbone({"name": "squeezenet1_1", "num_classes": 5, "weights": str(path)})
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="never downloads"):
        build_backbone({"name": "resnet18", "weights": "ResNet18_Weights.IMAGENET1K_V1"})
    with pytest.raises(CheckpointError, match="do not fit"):
        build_backbone({"name": "squeezenet1_1", "num_classes": 7, "weights": str(path)})


def test_unknown_backbone_name():
    with pytest.raises(ValueError, match="unknown torchvision classification model 'resnet7'"):
        build_backbone({"name": "resnet7"})
