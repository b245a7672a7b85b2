"""Vision Transformers: token embedder, CAMs through the patch grid, and a ViT run end to end."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.models.vision_transformer import VisionTransformer

from iin.attribution import METHODS, AttributionError, GradCAM, GuidedGradCAM, HiResCAM
from iin.backbones import FeatureExtractor, token_layout, tokens_to_grid
from iin.errors import LayerError
from iin.flows import InvarianceCINN
from iin.flows.embedders import TokenEmbedder, make_embedder


def tiny_vit(seed: int = 0) -> VisionTransformer:
    """A random ViT (B, 3, 32, 32) -> (B, 5) with 1 + 4*4 tokens of width 16."""
    torch.manual_seed(seed)
    vit = VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=32,
                            num_classes=5)
    torch.nn.init.normal_(vit.heads.head.weight)  # torchvision starts the head at zero: no gradient at all
    return vit.eval()


def test_token_layout_rule():
    assert token_layout(65) == (1, 8) and token_layout(64) == (0, 8) and token_layout(2) == (1, 1)
    assert token_layout(50) == (1, 7) and token_layout(51) is None


def test_tokens_to_grid_is_pytorch_grad_cams_vit_reshape():
    from pytorch_grad_cam.utils.reshape_transforms import vit_reshape_transform

    tokens = torch.randn(2, 17, 6)
    assert torch.equal(tokens_to_grid(tokens), vit_reshape_transform(tokens, 4, 4))
    assert torch.equal(tokens_to_grid(tokens[:, 1:]), vit_reshape_transform(tokens, 4, 4))  # no class token


@pytest.mark.parametrize("shape", [(17, 8), (16, 8), (65, 4)])
def test_token_embedder_shapes_and_cinn_round_trip(shape):
    embedder = make_embedder(shape, out_dim=12, width=16, conv_width=8)
    assert isinstance(embedder, TokenEmbedder) and embedder.has_cls == (token_layout(shape[0])[0] == 1)
    z = torch.randn(4, *shape)
    embedder.norm.fit(z)
    assert embedder(z).shape == (4, 12)
    cinn = InvarianceCINN(6, shape, depth=2, width=16, embed_dim=12, embed_width=16, conv_width=8)
    x = torch.randn(4, 6)
    v, _ = cinn(x, c=[z])
    assert (cinn(v, c=[z], rev=True)[0] - x).abs().max() < 1e-5


def test_token_embedder_uses_the_class_token_and_the_grid():
    embedder = TokenEmbedder((5, 3), out_dim=4, width=8, conv_width=4)
    torch.nn.init.normal_(embedder.out.weight)  # the projection starts random, as every layer here
    z = torch.randn(1, 5, 3)
    for changed in (0, 3):  # the class token, a patch token
        z2 = z.clone()
        z2[:, changed] += 1.0
        assert not torch.allclose(embedder(z), embedder(z2))


def test_embedder_errors_name_the_shape():
    with pytest.raises(LayerError, match=r"token features \(51, 8\) .* N = 51 is neither"):
        make_embedder((51, 8), 4, 8)
    with pytest.raises(LayerError, match=r"flat \(D,\), spatial \(C, H, W\) or tokens \(N, D\); "
                                         r"got shape \(2, 3, 4, 5\)"):
        make_embedder((2, 3, 4, 5), 4, 8)


def test_default_cam_layer_of_a_vit_is_the_last_blocks_first_norm():
    vit = tiny_vit()
    assert GradCAM(vit).layer(torch.rand(1, 3, 32, 32)) is vit.encoder.layers.encoder_layer_1.ln_1


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.mark.parametrize("ours, reference", [(GradCAM, "GradCAM"), (HiResCAM, "HiResCAM")])
def test_vit_cams_match_the_grad_cam_package(ours, reference):
    import pytorch_grad_cam
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    from pytorch_grad_cam.utils.reshape_transforms import vit_reshape_transform

    vit, x = tiny_vit(1), torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    target = vit(x).argmax(1)
    maps = ours(vit).attribute(x, target)
    assert maps.shape == (3, 1, 32, 32) and torch.isfinite(maps).all()
    layer = vit.encoder.layers.encoder_layer_1.ln_1
    with getattr(pytorch_grad_cam, reference)(model=vit, target_layers=[layer],
                                              reshape_transform=lambda t: vit_reshape_transform(t, 4, 4)) as cam:
        expected = cam(input_tensor=x, targets=[ClassifierOutputTarget(int(t)) for t in target])
    for ours_map, ref_map in zip(maps[:, 0].numpy(), expected):
        assert ours_map.std() > 0 and _corr(ours_map, ref_map) >= 0.99


def test_guided_gradcam_on_a_vit():
    vit = tiny_vit()
    maps = GuidedGradCAM(vit, layer="encoder.layers.encoder_layer_0").attribute(torch.rand(2, 3, 32, 32), 1)
    assert maps.shape == (2, 1, 32, 32) and torch.isfinite(maps).all() and maps.std() > 0


@pytest.mark.parametrize("name", list(METHODS))
def test_every_attribution_method_runs_on_a_vit(name):
    from test_attribution_methods import FAST

    maps = METHODS[name](tiny_vit(), **FAST.get(name, {})).attribute(torch.rand(2, 3, 32, 32), target=1)
    assert maps.shape == (2, 1, 32, 32) and torch.isfinite(maps).all()


def test_token_layers_cams_cannot_use_say_so():
    vit, x = tiny_vit(), torch.rand(1, 3, 32, 32)
    with pytest.raises(AttributionError, match=r"GradCAM needs a spatial map .* 'encoder.layers.encoder_layer_1#cls'"):
        GradCAM(vit, layer="encoder.layers.encoder_layer_1#cls").attribute(x, 0)
    with pytest.raises(LayerError, match=r"self_attention' outputs a tuple of 1 tensor; pick one: "
                                         r"encoder.layers.encoder_layer_1.self_attention:0 \(B, 17, 16\)"):
        HiResCAM(vit, layer="encoder.layers.encoder_layer_1.self_attention").attribute(x, 0)
    maps = HiResCAM(vit, layer="encoder.layers.encoder_layer_1.self_attention:0").attribute(x, 0)
    assert maps.shape == (1, 1, 32, 32)


def test_token_grid_that_does_not_fit_is_one_clear_error():
    class Odd(torch.nn.Module):  # 3 tokens: neither h*w nor 1 + h*w
        def __init__(self):
            super().__init__()
            self.tokens, self.head = torch.nn.Linear(4, 4), torch.nn.Linear(12, 2)

        def forward(self, x):
            return self.head(self.tokens(x.flatten(2)[:, :3, :4]).flatten(1))

    with pytest.raises(AttributionError, match=r"^GradCAM needs a spatial map, but the tokens of layer 'tokens' "
                                               r"\(1, 3, 4\) cannot be laid out as a square patch grid"):
        GradCAM(Odd(), layer="tokens").attribute(torch.rand(1, 3, 4, 4), 0)


def test_feature_extractor_on_vit_tokens():
    vit = tiny_vit()
    block = "encoder.layers.encoder_layer_"
    names = [f"{block}0", f"{block}1#cls", f"{block}1#mean"]
    feats = FeatureExtractor(vit, names)(torch.rand(2, 3, 32, 32))
    assert [f.shape for f in feats.values()] == [(2, 17, 16), (2, 16), (2, 16)]


# end to end: a ViT as the model under study -------------------------------------------------------------
LAYERS = ["encoder.layers.encoder_layer_1", "encoder.layers.encoder_layer_3"]
CLS_TARGET = "encoder.layers.encoder_layer_1#cls"
VIT_RUN = [  # the smoke experiment with a ViT; enough steps that the autoencoder and the cINNs see the data
    "experiment=smoke", "backbone=vit_tiny", "~backbone.width", "~backbone.hidden",
    "data.batch_size=64", "trainer.limit_train_batches=40", "autoencoder.epochs=8", "autoencoder.lr=3e-3",
    f"invariance.layers=[{','.join(LAYERS)}]", "invariance.steps=300", "invariance.flow.depth=4",
    "invariance.flow.width=64", f'concepts.targets=["{CLS_TARGET}"]', "concepts.unsupervised=[]"]


@pytest.fixture(scope="module")
def vit_run(tmp_path_factory):
    from conftest import make_config

    from iin.cli import train

    cfg = make_config([*VIT_RUN, f"paths.output_dir={tmp_path_factory.mktemp('vit')}"])
    train(cfg)
    return cfg.run_dir


@pytest.mark.slow
def test_vit_run_token_cinns_cls_concept_and_gradcam(vit_run):
    from iin.data import dataset_from_config
    from iin.editing import Interpreter

    interp = Interpreter.load(vit_run)
    assert interp.layers == LAYERS and interp.targets == [CLS_TARGET]
    assert all(isinstance(interp.cinn(layer).embedder, TokenEmbedder) for layer in LAYERS)
    x = dataset_from_config(interp.cfg.data, "test").images[:8]
    assert interp.representation(x, LAYERS[0]).shape == (8, 65, 64)
    assert interp.sample_invariances(x[:2], LAYERS[1], n=2).images.shape == (2, 2, 3, 32, 32)
    # z* = T^-1(T(z)) written back into the class token leaves the model's logits as they were
    unchanged = interp.set(x, "digit", interp.factors(x, CLS_TARGET)["digit"], target=CLS_TARGET)  # its own code
    assert not unchanged.has_images and torch.allclose(unchanged.logits, interp.logits(x), atol=1e-3)
    swapped = interp.swap(x, x.flip(0), "digit", target=CLS_TARGET)
    assert swapped.logits.shape == (8, 10) and not torch.allclose(swapped.logits, unchanged.logits, atol=1e-3)
    images = dataset_from_config(interp.cfg.data, "test").images
    maps = GradCAM(interp.classifier).attribute(images[torch.randperm(len(images))[:16]])
    assert maps.shape == (16, 1, 32, 32) and torch.isfinite(maps).all()
    assert (maps.flatten(1).std(1) > 0).any()  # after the ReLU, a weakly trained ViT leaves some maps at 0


@pytest.mark.slow
def test_vit_run_token_cinns_invert_and_reencode(vit_run):
    from conftest import run_evaluate

    metrics = run_evaluate(vit_run, skip=("attribution", "attack", "frechet", "zhang"))
    for layer in LAYERS:
        m = metrics["invariances"][layer]
        assert m["invertibility_max_abs_err"] <= 1e-4, (layer, m)
        assert m["reencode_cosine"] > m["reencode_cosine_random"], (layer, m)
    assert metrics["concepts"][CLS_TARGET]["invertibility_max_abs_err"] <= 1e-4
