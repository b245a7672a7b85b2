"""The figure writer (iin/viz), and the autoencoder's reconstruction grid going to image-capable loggers."""
from __future__ import annotations

import hashlib
from types import SimpleNamespace

import pytest
import torch
from PIL import Image

from iin.autoencoder import VAE
from iin.lit import AutoencoderModule
from iin.viz import bar_chart, grid_image, line_plot, save_grid, upscale


def test_grid_layout_and_padding():
    images = torch.zeros(5, 1, 4, 4)  # grey input becomes RGB
    grid = grid_image(images, nrow=3, padding=1, pad_value=1.0)
    assert grid.shape == (2 * 5 + 1, 3 * 5 + 1, 3) and grid[0].eq(1).all() and grid[1, 1].eq(0).all()


def test_save_grid_with_row_and_column_labels_is_a_png_and_deterministic(tmp_path):
    images = torch.rand(2, 3, 3, 8, 8, generator=torch.Generator().manual_seed(0))  # (rows, cols, C, H, W)
    kw = dict(row_labels=["x", "y"], col_labels=["input", "round trip", "sample 1"], title="t")
    first, second = save_grid(images, tmp_path / "a.png", **kw), save_grid(images, tmp_path / "b.png", **kw)
    assert Image.open(first).format == "PNG"
    assert hashlib.sha256(first.read_bytes()).digest() == hashlib.sha256(second.read_bytes()).digest()
    width, height = Image.open(first).size
    assert width >= 3 * 72 and height >= 2 * 72  # 8 px images are scaled up to at least 72 px cells
    plain = Image.open(save_grid(images.flatten(0, 1), tmp_path / "c.png", nrow=3)).size
    assert plain[0] < width and plain[1] < height  # the labels take room of their own
    with pytest.raises(ValueError, match="row labels"):
        save_grid(images, tmp_path / "d.png", row_labels=["only one"])
    with pytest.raises(ValueError, match="column labels"):
        save_grid(images, tmp_path / "d.png", col_labels=["a", "b"])
    assert not list(tmp_path.glob("*.tmp"))


def test_upscale_is_nearest_neighbour_by_a_whole_factor():
    x = torch.arange(4.0).view(1, 1, 2, 2) / 3
    big = upscale(x, min_side=5)  # factor 3: the smallest whole factor reaching 5 px
    assert big.shape == (1, 1, 6, 6) and torch.equal(big[0, 0, :3, :3], torch.zeros(3, 3))
    assert torch.equal(big[0, 0, 3:, 3:], torch.ones(3, 3)) and upscale(x, min_side=2) is x


def test_bar_and_line_plots(tmp_path):
    assert Image.open(bar_chart({"a": 1.0, "b": 2.0}, tmp_path / "bar.png", log=True)).size[0] > 0
    assert Image.open(bar_chart({"g": {"s": 1.0, "t": 2.0}}, tmp_path / "grouped.png")).size[0] > 0
    levels = {"s": {"@image": 0.0, "@label": 1.0}}
    plain = Image.open(line_plot(["l1", "l2"], {"s": [0.1, 0.9]}, tmp_path / "line.png", ylim=(0, 1))).size
    with_levels = Image.open(line_plot(["l1", "l2"], {"s": [0.1, 0.9]}, tmp_path / "lv.png", levels=levels)).size
    assert with_levels[0] > plain[0]  # the legend of the reference levels sits beside the axes
    assert not list(tmp_path.glob("*.tmp"))


def test_only_viz_sets_the_matplotlib_backend():
    """One figure writer: no module but iin/viz chooses a backend or writes images with torchvision."""
    from pathlib import Path

    import iin

    root = Path(iin.__file__).parent
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py") if "viz" not in p.parts
                 and any(s in p.read_text() for s in ("matplotlib.use(", "save_image(", "savefig(", "pyplot"))]
    assert offenders == []


class ImageLogger:
    def __init__(self):
        self.logged: list = []

    def log_image(self, key, images, step):
        self.logged.append((key, images, step))


def test_autoencoder_logs_reconstruction_grid():
    module = AutoencoderModule(VAE(z_dim=4, width=4, size=8), beta=0.1, optimizer=None, scheduler=None)
    logger = ImageLogger()
    module.validation_step({"image": torch.rand(3, 3, 8, 8)}, 0)  # without a trainer self.log only warns
    module._trainer = SimpleNamespace(loggers=[logger], sanity_checking=False, global_step=3)
    module.on_validation_epoch_end()
    (key, (grid,), step), = logger.logged
    assert key == "val/reconstructions" and step == 3 and grid.shape == (2 * 9 + 1, 3 * 9 + 1, 3)
