"""Embedded datasets, pair sampling, user folders and torchvision roots."""
import numpy as np
import pytest
import torch

from iin.data import (DataModule, DataNotFoundError, PairDataset, PairSampler, TorchvisionDataset, colormnist,
                      imagefolder, mnist5k, palette, shapes)
from iin.data.mnist5k import split_indices
from iin.metrics import color_readout


def test_mnist5k_split_is_fixed_stratified_and_disjoint():
    train, test = split_indices("train"), split_indices("test")
    assert len(train) == 4000 and len(test) == 1000 and not set(train) & set(test)
    images, labels = mnist5k("test")
    assert images.shape == (1000, 1, 32, 32) and 0 <= images.min() and images.max() <= 1
    assert torch.bincount(labels).tolist() == [100] * 10
    assert np.array_equal(split_indices("train"), train)


def test_colormnist_factors_are_deterministic_and_readable():
    a, b = colormnist("test"), colormnist("test")
    assert torch.equal(a.images, b.images) and set(a.factor_names) == {"digit", "color"}
    assert a.images.shape == (1000, 3, 32, 32)
    assert not torch.equal(colormnist("test", seed=1).factors["color"], a.factors["color"])
    # the analytic colour readout recovers the painted colour on real data
    assert (color_readout(a.images, palette(8)) == a.factors["color"]).float().mean() > 0.99


def test_colormnist_background_adds_a_factor():
    ds = colormnist("test", n_backgrounds=4)
    assert "bg" in ds.factor_names and int(ds.factors["bg"].max()) == 3
    corner = ds.images[:, :, 0, 0]  # background pixel
    assert (corner.sum(1) > 0).all()


@pytest.mark.parametrize("backgrounds", [0, 4])
def test_colormnist_paint_as_changes_the_colour_only(backgrounds):
    ds, red = colormnist("test", n_backgrounds=backgrounds), colormnist("test", n_backgrounds=backgrounds, paint_as=0)
    assert (red.factors["color"] == 0).all()
    assert all(torch.equal(red.factors[f], ds.factors[f]) for f in ds.factor_names if f != "color")
    already = ds.factors["color"] == 0
    assert 0 < already.sum() < len(ds) and torch.equal(red.images[already], ds.images[already])
    assert (red.images[~already] != ds.images[~already]).flatten(1).any(1).all()
    with pytest.raises(ValueError, match=r"paint_as must be a palette index in \[0, 8\)"):
        colormnist("test", paint_as=8)


def test_palette_colours_are_distinct():
    p = palette(8)
    assert torch.cdist(p, p).add(torch.eye(8) * 10).min() > 0.3


def test_shapes_reproducible_with_masks_and_landmarks():
    a, b = shapes("test", n=64, seed=3), shapes("test", n=64, seed=3)
    assert torch.equal(a.images, b.images)
    assert not torch.equal(shapes("test", n=64, seed=4).images, a.images)
    inside = a.masks.expand_as(a.images)
    assert a.images[~inside].abs().max() == 0 and (a.masks.flatten(1).sum(1) > 10).all()
    lm = a.extras["landmarks"]
    assert lm.shape == (64, 4, 2) and lm.min() >= 0 and lm.max() <= 32
    # the centre landmark of a triangle lies inside its mask
    tri = (a.factors["shape"] == 2).nonzero()[0, 0]
    cx, cy = lm[tri, 3].long()
    assert a.masks[tri, 0, cy, cx]


def test_pair_sampler_pairs_share_the_factor():
    ds = colormnist("train")
    sampler = PairSampler(ds.factors, ["digit", "color"], seed=0)
    i1, i2, k = sampler.sample(5000)
    values = torch.stack([ds.factors["digit"], ds.factors["color"]])
    assert torch.equal(values[k, i1], values[k, i2])
    assert 0.4 < k.float().mean() < 0.6
    other = values[1 - k, i1] == values[1 - k, i2]
    assert other.float().mean() < 0.3  # the other factor is not shared by construction
    x1, x2, kk = next(iter(PairDataset(ds, ["color"], batch_size=8)))
    assert x1.shape == (8, 3, 32, 32) and torch.equal(kk, torch.zeros(8, dtype=torch.long))


def test_pair_sampler_rejects_unknown_factor():
    with pytest.raises(ValueError, match="unknown factor"):
        PairSampler(colormnist("test").factors, ["shape"])


def test_imagefolder_with_attributes(tmp_path):
    from PIL import Image

    rows = ["file,smile"]
    for c in ("cat", "dog"):
        (tmp_path / c).mkdir()
        for i in range(5):
            Image.fromarray(np.full((20, 24, 3), 40 * i, np.uint8)).save(tmp_path / c / f"{i}.png")
            rows.append(f"{c}/{i}.png,{i % 2}")
    (tmp_path / "attrs.csv").write_text("\n".join(rows))
    train = imagefolder(str(tmp_path), "train", size=16, attributes=str(tmp_path / "attrs.csv"))
    test = imagefolder(str(tmp_path), "test", size=16)
    assert len(train) == 8 and len(test) == 2 and train.images.shape[1:] == (3, 16, 16)
    assert set(train.factor_names) == {"class", "smile"}


def test_missing_data_roots_say_what_to_do(tmp_path):
    with pytest.raises(DataNotFoundError, match="does not exist"):
        imagefolder(str(tmp_path / "nope"), "train")
    with pytest.raises(DataNotFoundError, match="download"):
        TorchvisionDataset("MNIST", str(tmp_path), "train")


def test_datamodule_serves_dict_batches():
    dm = DataModule("shapes", batch_size=16, n=64)
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape == (16, 3, 32, 32) and batch["label"].shape == (16,)
    assert dm.image_shape == (3, 32, 32)
    with pytest.raises(ValueError, match="unknown dataset"):
        DataModule("nope").setup()
