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


# the layer tap: structured outputs, token reductions, replacement, hooks ---------------------------------
import dataclasses  # noqa: E402
from collections import OrderedDict, namedtuple  # noqa: E402

from iin.backbones import forward_from, forward_with_leaf, tap  # noqa: E402
from iin.errors import LayerError  # noqa: E402

Pair = namedtuple("Pair", ["maps", "logits"])


@dataclasses.dataclass
class HFOutput(OrderedDict):
    """Like transformers' ModelOutput: a dataclass and a dict of its non-None fields at once."""

    last_hidden_state: torch.Tensor | None = None
    pooler_output: torch.Tensor | None = None

    def __post_init__(self):
        for f in dataclasses.fields(self):
            if getattr(self, f.name) is not None:
                self[f.name] = getattr(self, f.name)


class Structured(nn.Module):
    """A module returning `kind` of (maps (B, 16, 8, 8), logits (B, 10)); the head checks the type it gets back."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind, self.conv, self.fc = kind, nn.Conv2d(3, 16, 3, padding=1), nn.Linear(16 * 64, 10)

    def forward(self, x):
        maps = self.conv(x)
        logits = self.fc(maps.flatten(1))
        return {"tuple": lambda: (maps, logits), "list": lambda: [maps, logits],
                "dict": lambda: {"maps": maps, "logits": logits}, "namedtuple": lambda: Pair(maps, logits),
                "hf": lambda: HFOutput(maps, logits)}[self.kind]()


class StructuredNet(nn.Module):
    def __init__(self, kind: str):
        super().__init__()
        self.kind, self.pair = kind, Structured(kind)

    def forward(self, x):
        out = self.pair(x)
        expected = {"tuple": tuple, "list": list, "dict": dict, "namedtuple": Pair, "hf": HFOutput}[self.kind]
        assert type(out) is expected, type(out)  # a replacement must keep the structure
        if self.kind == "hf":
            maps, logits = out.last_hidden_state, out.pooler_output
        else:
            maps, logits = (out["maps"], out["logits"]) if self.kind == "dict" else out
        return logits + maps.mean((1, 2, 3))[:, None]


ELEMENTS = {"tuple": ("0", "1"), "list": ("0", "1"), "dict": ("maps", "logits"), "namedtuple": ("maps", "logits"),
            "hf": ("last_hidden_state", "pooler_output")}


def test_tuple_output_error_names_the_choices():
    with pytest.raises(LayerError, match=r"^layer 'pair' outputs a tuple of 2 tensors; pick one: "
                                         r"pair:0 \(B, 16, 8, 8\), pair:1 \(B, 10\)$"):
        FeatureExtractor(StructuredNet("tuple"), ["pair"])(torch.rand(2, 3, 8, 8))
    assert FeatureExtractor(StructuredNet("tuple"), ["pair:-1"])(torch.rand(2, 3, 8, 8))["pair:-1"].shape == (2, 10)


@pytest.mark.parametrize("kind", list(ELEMENTS))
def test_structured_outputs_select_and_replace(kind):
    model, x = StructuredNet(kind), torch.rand(2, 3, 8, 8)
    maps_name, logits_name = (f"pair:{e}" for e in ELEMENTS[kind])
    with pytest.raises(LayerError, match=f"pick one: {maps_name} \\(B, 16, 8, 8\\), {logits_name} \\(B, 10\\)"):
        FeatureExtractor(model, ["pair"])(x)
    feats = FeatureExtractor(model, [maps_name, logits_name])(x)
    assert feats[maps_name].shape == (2, 16, 8, 8) and feats[logits_name].shape == (2, 10)
    z_star = torch.randn(2, 10)
    out = forward_from(model, logits_name, x, z_star)  # the head asserts the structure's type
    assert torch.allclose(out, z_star + feats[maps_name].mean((1, 2, 3))[:, None], atol=1e-6)
    maps_star = torch.zeros(2, 16 * 64)  # flat replacements are reshaped to the tapped tensor
    assert torch.allclose(forward_from(model, maps_name, x, maps_star), feats[logits_name], atol=1e-6)
    assert all(not m._forward_hooks for m in model.modules())


def test_bad_elements_and_reductions_are_one_line_errors():
    model, x = StructuredNet("dict"), torch.rand(2, 3, 8, 8)
    with pytest.raises(LayerError, match=r"^layer 'pair' has no element 'probs'; pick one of: pair:maps"):
        FeatureExtractor(model, ["pair:probs"])(x)
    with pytest.raises(LayerError, match=r"outputs a tensor \(B, 16, 8, 8\), not a structure: drop ':0'"):
        FeatureExtractor(model, ["pair.conv:0"])(x)
    with pytest.raises(LayerError, match="unknown token reduction '#max'"):
        tap(model, "pair.conv#max")
    with pytest.raises(LayerError, match=r"needs tokens \(B, N, D\), but the layer outputs \(2, 16, 8, 8\)"):
        FeatureExtractor(model, ["pair.conv#cls"])(x)


class Tokens(nn.Module):
    """Tokens (B, 1 + 2*2, 3): a class token, then 4 patch tokens; the head returns them as they arrive."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Identity()

    def forward(self, x):
        return self.embed(x) * 1.0


def test_token_reductions_read_and_write():
    model, t = Tokens(), torch.randn(2, 5, 3)
    feats = FeatureExtractor(model, ["embed#cls", "embed#mean", "embed"])(t)
    assert torch.equal(feats["embed#cls"], t[:, 0]) and torch.allclose(feats["embed#mean"], t[:, 1:].mean(1))
    z = torch.randn(2, 3)
    out = forward_from(model, "embed#cls", t, z)
    assert torch.equal(out[:, 0], z) and torch.equal(out[:, 1:], t[:, 1:])
    out = forward_from(model, "embed#mean", t, z)  # patch tokens shifted: their mean is z, deviations kept
    assert torch.allclose(out[:, 1:].mean(1), z, atol=1e-6) and torch.equal(out[:, 0], t[:, 0])
    deviations = [u[:, 1:] - u[:, 1:].mean(1, keepdim=True) for u in (out, t)]
    assert torch.allclose(*deviations, atol=1e-6)
    with pytest.raises(LayerError, match="have no class token"):
        FeatureExtractor(model, ["embed#cls"])(torch.randn(2, 4, 3))  # 4 = 2*2 patch tokens only


def test_gradients_through_the_leaf_equal_autograd():
    model, x = TinyCNN(width=4, hidden=8), torch.rand(2, 3, 32, 32)
    logits, a = forward_with_leaf(model, "penultimate", x)
    (grad,) = torch.autograd.grad(logits[:, 3].sum(), a)
    assert torch.allclose(grad, model.logits.weight[3].expand(2, -1))  # d logit_3 / d penultimate = W_3
    assert torch.allclose(logits, model(x), atol=1e-6)  # the forward continues from the leaf unchanged


class Bomb(nn.Module):
    def forward(self, x):
        raise RuntimeError("boom")


@pytest.mark.parametrize("call", [
    lambda m, x: FeatureExtractor(m, ["0", "1"])(x),
    lambda m, x: forward_with_leaf(m, "0", x),
    lambda m, x: forward_from(m, "0", x, torch.zeros(2, 4, 6, 6))])
def test_every_tap_removes_its_hooks_when_the_forward_raises(call):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), Bomb())  # raises after the tapped layer's hook has run
    with pytest.raises(RuntimeError, match="boom"):
        call(model, torch.rand(2, 3, 8, 8))
    assert all(not m._forward_hooks for m in model.modules())
