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
