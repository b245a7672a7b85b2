"""matplotlib with the non-interactive Agg backend, and an atomic, deterministic figure save."""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # headless: no display needed, the same pixels everywhere
import matplotlib.pyplot as plt  # noqa: E402

# No timestamp or software version in the PNG text chunks: the same figure gives the same bytes.
PNG_METADATA = {"Software": None}

if TYPE_CHECKING:
    import torch


def colormap(values: torch.Tensor, name: str = "magma") -> torch.Tensor:
    """Values (...) in [0, 1] coloured by a matplotlib colormap: (..., 3) floats in [0, 1]."""
    import torch

    return torch.from_numpy(matplotlib.colormaps[name](values.detach().cpu().numpy())[..., :3]).float()


def save_figure(fig: "plt.Figure", path: str | Path, dpi: int = 100) -> Path:
    """Save `fig` to `path` (via a temp file, then rename) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=dpi, bbox_inches="tight", metadata=PNG_METADATA)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return path
