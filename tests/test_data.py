"""Embedded datasets, pair sampling, user folders and torchvision roots."""
import numpy as np
import pytest
import torch

from iin.data import (DataModule, DataNotFoundError, PairSampler, TarShards, TorchvisionDataset, colormnist, gather,
                      imagefolder, iter_batches, mnist5k, palette, shapes, write_shards)
from iin.errors import DataError
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
    gen = lambda: torch.Generator().manual_seed(7)  # noqa: E731
    a, b = sampler.sample(16, generator=gen()), sampler.sample(16, generator=gen())
    assert all(torch.equal(u, v) for u, v in zip(a, b))  # a given generator makes the draw reproducible


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
    assert len(train) == 8 and len(test) == 2 and train[0]["image"].shape == (3, 16, 16)
    assert set(train.factor_names) == {"class", "smile"}
    batch = gather(train, [7, 0])
    assert batch["image"].shape == (2, 3, 16, 16) and batch["smile"].tolist() == train.factors["smile"][[7, 0]].tolist()


def _folder(root, classes=("a", "b"), n=3, size=(20, 24)):
    from PIL import Image

    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(np.full((*size, 3), 40 * i, np.uint8)).save(root / c / f"{i}.png")
    return root


def test_imagefolder_bad_files_name_the_file_and_can_be_skipped(tmp_path):
    root = _folder(tmp_path / "imgs")
    good = (root / "a" / "1.png").read_bytes()
    (root / "a" / "1.png").write_bytes(good[: len(good) // 2])  # truncated
    (root / "b" / "fake.png").write_text("not an image")
    ds = imagefolder(str(root), "train", size=8, test_fraction=0.0)
    with pytest.raises(DataError, match=r"cannot read image .*a/1\.png.*bad_images=skip"):
        list(iter_batches(ds, 4))
    skipping = imagefolder(str(root), "train", size=8, test_fraction=0.0, bad_images="skip")
    images = gather(skipping, range(len(skipping)))["image"]
    assert images.shape == (7, 3, 8, 8) and torch.isfinite(images).all()


def test_imagefolder_empty_class_folder_and_small_images(tmp_path, caplog):
    root = _folder(tmp_path / "imgs", size=(6, 5))
    (root / "c").mkdir()
    with pytest.raises(DataError, match=r"class folder .*/c has no images"):
        imagefolder(str(root), "train")
    (root / "c").rmdir()
    with caplog.at_level("WARNING", logger="iin"):
        assert imagefolder(str(root), "train", size=16)[0]["image"].shape == (3, 16, 16)
    assert "smaller than 16 px" in caplog.text


def test_tar_shards_serve_the_same_items_and_read_with_webdataset(tmp_path):
    source = shapes("test", n=25, size=16)
    shards = write_shards(source, tmp_path / "test", shard_size=10)
    assert len(shards) == 3
    ds = TarShards(str(tmp_path), "test", size=16)
    idx = [24, 3, 11]
    got, want = gather(ds, idx), source.gather(torch.tensor(idx))
    assert torch.allclose(got["image"], want["image"], atol=1 / 255) and torch.equal(got["label"], want["label"])
    assert torch.equal(got["color"], want["color"]) and set(ds.factor_names) >= {"label", "shape", "x", "y"}
    import webdataset as wds

    keys = [sample["__key__"] for sample in wds.WebDataset([str(p) for p in shards], shardshuffle=False)]
    assert len(keys) == 25


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
