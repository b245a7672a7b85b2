"""Shared plotting helpers, and the autoencoder's reconstruction grid going to image-capable loggers."""
from __future__ import annotations

import hashlib
from types import SimpleNamespace

import pytest
import torch
from PIL import Image

from iin.autoencoder import VAE
from iin.lit import AutoencoderModule
from iin.viz import bar_chart, grid_image, line_plot, save_grid


def test_grid_layout_and_padding():
    images = torch.zeros(5, 1, 4, 4)  # grey input becomes RGB
    grid = grid_image(images, nrow=3, padding=1, pad_value=1.0)
    assert grid.shape == (2 * 5 + 1, 3 * 5 + 1, 3) and grid[0].eq(1).all() and grid[1, 1].eq(0).all()


def test_save_grid_with_row_labels_is_a_png_and_deterministic(tmp_path):
    images = torch.rand(6, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    first = save_grid(images, tmp_path / "a.png", nrow=3, row_labels=["x", "y"], title="t")
    second = save_grid(images, tmp_path / "b.png", nrow=3, row_labels=["x", "y"], title="t")
    assert Image.open(first).format == "PNG"
    assert hashlib.sha256(first.read_bytes()).digest() == hashlib.sha256(second.read_bytes()).digest()
    with pytest.raises(ValueError, match="row labels"):
        save_grid(images, tmp_path / "c.png", nrow=3, row_labels=["only one"])


def test_bar_and_line_plots(tmp_path):
    assert Image.open(bar_chart({"a": 1.0, "b": 2.0}, tmp_path / "bar.png", log=True)).size[0] > 0
    assert Image.open(bar_chart({"g": {"s": 1.0, "t": 2.0}}, tmp_path / "grouped.png")).size[0] > 0
    assert Image.open(line_plot(["l1", "l2"], {"s": [0.1, 0.9]}, tmp_path / "line.png", ylim=(0, 1))).size[0] > 0
    assert not list(tmp_path.glob("*.tmp"))


class ImageLogger:
    def __init__(self):
        self.logged: list = []

    def log_image(self, key, images, step):
        self.logged.append((key, images, step))


def test_autoencoder_logs_reconstruction_grid():
    module = AutoencoderModule(VAE(z_dim=4, width=4, size=8))
    logger = ImageLogger()
    module.validation_step({"image": torch.rand(3, 3, 8, 8)}, 0)  # without a trainer self.log only warns
    module._trainer = SimpleNamespace(loggers=[logger], sanity_checking=False, global_step=3)
    module.on_validation_epoch_end()
    (key, (grid,), step), = logger.logged
    assert key == "val/reconstructions" and step == 3 and grid.shape == (2 * 9 + 1, 3 * 9 + 1, 3)
