"""User data end to end: a torchvision dataset in its on-disk format, and an image folder without oracle or factors."""
from __future__ import annotations

import hashlib
import json
import pickle

import numpy as np
import pytest

from conftest import make_config, run_evaluate
from iin.cli import train


def write_cifar10(root, n_per_batch: int = 60, n_test: int = 100, seed: int = 0) -> list[list[str]]:
    """A small CIFAR-10 in torchvision's python format (cifar-10-batches-py): coloured blobs, label = colour.
    Returns the md5 table torchvision checks, for the files written here."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    palette = rng.integers(0, 256, (10, 3))

    def batch(n):
        labels = rng.integers(0, 10, n)
        images = np.zeros((n, 32, 32, 3), np.uint8)
        for i, y in enumerate(labels):
            x0, y0 = rng.integers(0, 16, 2)
            images[i, y0:y0 + 16, x0:x0 + 16] = palette[y]
        return {"data": images.transpose(0, 3, 1, 2).reshape(n, -1), "labels": labels.tolist()}

    files = [(f"data_batch_{i}", batch(n_per_batch)) for i in range(1, 6)] + [("test_batch", batch(n_test))]
    files.append(("batches.meta", {"label_names": [f"c{i}" for i in range(10)]}))
    md5 = []
    for name, content in files:
        (folder / name).write_bytes(pickle.dumps(content))
        md5.append([name, hashlib.md5((folder / name).read_bytes()).hexdigest()])
    return md5


@pytest.fixture
def cifar10_root(tmp_path, monkeypatch):
    """torchvision checks the md5 of the real files: point its tables at the files written here."""
    from torchvision.datasets import CIFAR10

    md5 = write_cifar10(tmp_path / "cifar10")
    monkeypatch.setattr(CIFAR10, "train_list", md5[:5])
    monkeypatch.setattr(CIFAR10, "test_list", md5[5:6])
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": md5[6][1]})
    return tmp_path / "cifar10"


def test_cifar10_on_disk_runs_every_stage_and_evaluates(tmp_path, cifar10_root):
    cfg = make_config(["experiment=smoke", "data=cifar10", f"data.options.root={cifar10_root}", "data.num_workers=0",
                       f"paths.output_dir={tmp_path}", "concepts.factors=[label]", "invariance.batch_size=32",
                       "concepts.batch_size=32", "data.batch_size=64"])
    run = train(cfg)
    assert all(run.has(s) for s in ["classifier", "oracle", "autoencoder", "invariances/block2", "concepts/penultimate"])
    metrics = run_evaluate(run.root)
    assert {"classifier", "oracle", "autoencoder", "invariances", "attack", "concepts", "frechet"} <= set(metrics)
    assert set(metrics["invariances"]["block2"]["preservation"]) == {"label"}
    assert not [m for m in metrics["missing"] if m["section"] != "zhang"]


def write_folder(root, n: int = 24, size: int = 20) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, colour in enumerate([(250, 30, 30), (30, 250, 30)]):
        (root / f"class{c}").mkdir(parents=True)
        for i in range(n):
            img = np.zeros((size, size, 3), np.uint8)
            x0, y0 = rng.integers(0, size // 2, 2)
            img[y0:y0 + size // 2, x0:x0 + size // 2] = colour
            Image.fromarray(img).save(root / f"class{c}" / f"{i}.png")


def test_image_folder_without_oracle_gets_every_number_that_needs_no_ground_truth(tmp_path):
    write_folder(tmp_path / "imgs")
    cfg = make_config(["experiment=smoke", "data=imagefolder", f"data.options.root={tmp_path / 'imgs'}",
                       "data.num_classes=2", "data.num_workers=0", "data.options.size=32", f"paths.output_dir={tmp_path}",
                       "stages=[classifier,autoencoder,invariances]", "invariance.batch_size=16"])
    run = train(cfg)
    metrics = run_evaluate(run.root)
    for layer in cfg.invariance.layers:
        m = metrics["invariances"][layer]
        for key in ("reencode_cosine", "prediction_agreement", "nll_bits_per_dim", "invertibility_max_abs_err"):
            assert np.isfinite(m[key]), (layer, key)
        assert "preservation" not in m and "invariance" not in m
    missing = [m for m in metrics["missing"] if m["section"] == "invariances"]
    assert missing and missing[0]["needs"] == ["oracle"] and "stages=[oracle]" in missing[0]["command"]
    assert "class" in json.dumps(missing)
    figures = {p.name for p in (run.root / "figures").iterdir()}
    assert {f"invariances_{layer}.png" for layer in cfg.invariance.layers} <= figures
    html = (run.root / "report.html").read_text()
    assert html.count("<img") >= len(cfg.invariance.layers)
