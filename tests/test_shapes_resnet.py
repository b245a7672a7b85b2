"""Shapes readouts (position, scale, colour) on ground-truth images, and a shrunken shapes_resnet end to end."""
from __future__ import annotations

import pytest
import torch

from iin.data import palette, shapes
from iin.data.shapes import positions, radii
from iin.metrics.readouts import color_readout, data_readouts, position_readout, scale_readout


@pytest.fixture(scope="module", params=[32, 64])
def test_split(request):
    return shapes("test", n=400, size=request.param, seed=3)


def test_geometry_levels_fit_the_image():
    for size in (32, 64, 128):
        p, r = positions(size), radii(size)
        assert torch.all(p[1:] > p[:-1]) and torch.all(r[1:] > r[:-1])
        # the largest square's corners (0.8 * sqrt(2) radii from the centre) stay inside the image
        assert p[0] - 1.14 * r[-1] >= 0 and p[-1] + 1.14 * r[-1] <= size


def test_position_readout_recovers_x_and_y(test_split):
    got = position_readout(test_split.images)
    for axis in ("x", "y"):
        assert (got[axis] == test_split.factors[axis]).float().mean() >= 0.95


def test_scale_readout_recovers_scale_given_the_shape(test_split):
    got = scale_readout(test_split.images, test_split.factors["shape"])
    assert (got == test_split.factors["scale"]).float().mean() >= 0.95


def test_position_readout_fails_on_shifted_images(test_split):
    """The readout reads the object, not the labels: images shifted by a whole position step read differently."""
    step = float(positions(test_split.images.shape[-1]).diff()[0])
    shifted = torch.roll(test_split.images, shifts=round(step), dims=-1)
    inside = test_split.factors["x"] < 5
    got = position_readout(shifted[inside])["x"]
    assert (got == test_split.factors["x"][inside] + 1).float().mean() >= 0.9


def test_color_readout_recovers_colour(test_split):
    got = color_readout(test_split.images, palette(8))
    assert (got == test_split.factors["color"]).float().mean() >= 0.95


class _TrueShape(torch.nn.Module):
    """A stand-in oracle that looks the shape up from a table of the test images."""

    def __init__(self, ds):
        super().__init__()
        self.images, self.shape = ds.images, ds.factors["shape"]

    def forward(self, x):
        idx = (x.flatten(1)[:, None] == self.images.flatten(1)[None]).all(2).float().argmax(1)
        return torch.nn.functional.one_hot(self.shape[idx], 3).float()


def test_data_readouts_cover_every_shapes_factor_but_rotation(test_split):
    ds = test_split
    got = data_readouts(ds.images[:50], _TrueShape(ds), {"name": "shapes", "options": {"n_colors": 8}}, "shape")
    assert sorted(got) == ["color", "scale", "shape", "x", "y"]
    for f, values in got.items():
        assert (values == ds.factors[f][:50]).float().mean() >= 0.95, f
    colormnist_like = data_readouts(ds.images[:5], _TrueShape(ds), {"name": "colormnist", "options": {"n_colors": 8}},
                                    "shape")
    assert sorted(colormnist_like) == ["color", "shape"]


def test_center_baseline_peaks_at_the_centre_and_knows_nothing_of_the_image():
    from iin.attribution.evaluate import center_maps

    x = torch.rand(2, 3, 64, 64)
    maps = center_maps(x)
    assert maps.shape == (2, 1, 64, 64) and torch.equal(maps[0], maps[1])
    peak = maps[0, 0].flatten().argmax().item()
    assert (peak // 64, peak % 64) in {(31, 31), (31, 32), (32, 31), (32, 32)}
    assert torch.allclose(maps, maps.flip(-1)) and torch.allclose(maps, maps.flip(-2))


def test_pointing_game_uses_a_disc_of_fractional_tolerance():
    """TorchRay's 15 px at 224 px scaled to 64 px: a peak 4 px from the mask hits, 5 px misses."""
    from iin.attribution.evaluate import pointing_game

    masks = torch.zeros(3, 1, 64, 64)
    masks[:, :, 30:34, 30:34] = 1
    maps = torch.zeros(3, 1, 64, 64)
    maps[0, 0, 37, 31] = 1  # 4 px below the mask
    maps[1, 0, 38, 31] = 1  # 5 px below
    maps[2, 0, 36, 36] = 1  # (3, 3) diagonal: 4.24 px, a hit at 4.29 px and a miss at 4 px
    tol = 15 * 64 / 224
    assert pointing_game(maps, masks, tol).tolist() == [True, False, True]
    assert pointing_game(maps, masks, 4.0).tolist() == [True, False, False]


LAYERS = ["layer1", "layer2", "layer3", "layer4", "avgpool", "fc", "@image", "@label"]
FACTORS = ["color", "scale", "shape", "x", "y"]
# shapes_resnet shrunk to seconds of work per stage: 32 px, 256 images, a few steps each.
SHRUNK = ["data.options.size=32", "+data.options.n=256", "data.batch_size=64", "classifier.epochs=1",
          "oracle.epochs=1", "autoencoder.epochs=1", "autoencoder.net.width=8", "autoencoder.net.z_dim=16",
          "+trainer.limit_train_batches=2", "+trainer.limit_val_batches=1", "trainer.enable_progress_bar=false",
          "invariance.steps=3", "invariance.batch_size=32", "invariance.workers=1", "invariance.flow.depth=2",
          "invariance.flow.width=32", "invariance.flow.embed_dim=16", "invariance.flow.embed_width=32",
          "invariance.flow.conv_width=16", "~invariance.per_layer", "concepts.steps=3", "concepts.batch_size=32", "concepts.estimate.pairs=200",
          "concepts.flow.depth=2", "concepts.flow.width=32"]
FAST = {"invariance_images": 8, "samples": 2, "chunk": 8, "concept_images": 12, "attack_images": 4,
        "frechet_samples": 16, "attribution": {
            "n_images": 2, "n_sanity": 1, "n_steps": 4,
            "methods": {"RISE": {"n_masks": 20}, "LIME": {"n_samples": 20}, "Anchors": {"max_samples": 100},
                        "ActivationMaximization": {"steps": 2, "attribute_steps": 2}, "DeepDream": {"steps": 1}}}}


def test_shapes_resnet_config_composes():
    from conftest import make_config

    cfg = make_config(["experiment=shapes_resnet"])
    assert cfg.backbone.name == "resnet18" and cfg.backbone.weights is None and cfg.data.options.size == 64
    assert list(cfg.invariance.layers) == LAYERS and list(cfg.concepts.targets) == ["avgpool"]
    assert list(cfg.concepts.factors) == ["shape", "color", "x", "y"]
    assert abs(cfg.eval.attribution.pointing_tolerance - 15 * 64 / 224) < 0.01


@pytest.mark.slow
def test_shrunken_shapes_resnet_end_to_end(tmp_path):
    """train + evaluate: invariance and preservation for every factor with a readout at every layer, and the
    attribution section with its centre baseline, in metrics.json."""
    import json

    from omegaconf import open_dict

    from iin.cli import evaluate, train
    from conftest import make_config

    train(make_config(["experiment=shapes_resnet", f"paths.output_dir={tmp_path}", *SHRUNK]))
    run_dir = tmp_path / "shapes_resnet"
    cfg = make_config([f"run_dir={run_dir}"], name="evaluate")
    with open_dict(cfg):
        cfg.eval.merge_with(FAST)
    evaluate(cfg)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert [m["section"] for m in metrics["missing"]] == ["zhang"]
    for layer in LAYERS:
        m = metrics["invariances"][layer]
        assert sorted(m["invariance"]) == FACTORS and sorted(m["preservation"]) == FACTORS, layer
        assert all(0 <= v <= 1 for v in m["preservation"].values())
    assert sorted(metrics["autoencoder"]["preservation"]) == FACTORS
    assert metrics["autoencoder"]["position_within_2px"] >= 0
    assert {"pointing_game", "deletion_auc"} <= set(metrics["attribution"]["center"])
    assert set(metrics["concepts"]["avgpool"]["swap"]) <= {"shape", "color", "x", "y"}
    assert (run_dir / "figures" / "invariances_profile.png").is_file()


def test_centroid_distance_measures_shifts_in_pixels():
    from iin.metrics.readouts import centroid_distance

    ds = shapes("test", n=20, size=64, seed=1)
    shifted = torch.roll(ds.images, shifts=(3, 4), dims=(-2, -1))  # 3 px down, 4 px right: 5 px
    assert torch.allclose(centroid_distance(ds.images, shifted), torch.full((20,), 5.0), atol=1e-4)
    assert centroid_distance(ds.images, ds.images).abs().max() == 0


def test_data_readouts_without_an_oracle_keep_what_needs_none(test_split):
    got = data_readouts(test_split.images[:5], None, {"name": "shapes", "options": {"n_colors": 8}}, "shape")
    assert sorted(got) == ["color", "x", "y"]
