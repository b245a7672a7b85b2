"""The part-annotated shapes: reproducible, masks and landmarks line up, negatives, several categories."""
from __future__ import annotations

import torch

from iin.data import build_dataset
from iin.data.parts import parts


def test_parts_are_reproducible_from_the_seed():
    a, b, c = parts("test", n=24, seed=3), parts("test", n=24, seed=3), parts("test", n=24, seed=4)
    assert torch.equal(a.images, b.images) and torch.equal(a.extras["part_masks"], b.extras["part_masks"])
    assert not torch.equal(a.images, c.images)
    assert not torch.equal(parts("train", n=24, seed=3).images, a.images)  # splits differ


def test_landmarks_lie_in_their_part_masks_and_parts_in_the_object():
    ds = parts("test", n=64, categories=3, seed=1)
    pos = ds.labels > 0
    masks, lm = ds.extras["part_masks"][pos], ds.extras["landmarks"][pos]  # (N, 3, H, W), (N, 3, 2)
    px = lm.floor().long().clamp(0, ds.images.shape[-1] - 1)
    n, p = torch.meshgrid(torch.arange(len(px)), torch.arange(3), indexing="ij")
    assert masks[n, p, px[..., 1], px[..., 0]].float().mean() > 0.97  # part centre pixel inside its part
    assert (masks.any(1) == ds.masks[pos, 0]).all()
    assert (masks.flatten(2).sum(-1) > 3).all()  # every part is visible


def test_negatives_have_no_object_and_the_categories_are_all_drawn():
    ds = parts("test", n=200, categories=3, negatives=0.4, seed=0)
    neg = ds.labels == 0
    assert 0.25 < neg.float().mean() < 0.55
    assert not ds.extras["part_masks"][neg].any() and torch.isnan(ds.extras["landmarks"][neg]).all()
    assert set(ds.labels.tolist()) == {0, 1, 2, 3}


def test_parts_is_registered():
    ds = build_dataset("parts", "train", n=8, size=32)
    assert ds.images.shape == (8, 3, 32, 32) and ds[0]["part_masks"].shape == (3, 32, 32)
