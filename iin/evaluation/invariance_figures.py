"""Figures of the invariance section: a sample grid per layer and the layer profile."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torchvision.utils import save_image  # noqa: E402

from ..editing import Interpreter  # noqa: E402
from .context import EvalContext  # noqa: E402


@torch.no_grad()
def layer_grids(ctx: EvalContext, interp: Interpreter, n_images: int = 8, n_samples: int = 8) -> None:
    """Per layer, one row per test image: input, autoencoder reconstruction, 8 invariance samples."""
    x, y = ctx.subset(n_images)
    recon = interp.autoencoder(x)
    for layer in interp.layers:
        samples = interp.sample_invariances(x, layer, n=n_samples, labels=y, seed=0)  # (B, n, C, H, W)
        grid = torch.cat([x[:, None], recon[:, None], samples], dim=1).flatten(0, 1)  # (B*(n+2), C, H, W)
        save_image(grid, ctx.figures / f"invariances_{layer}.png", nrow=n_samples + 2, padding=1)


def profile_plot(ctx: EvalContext, metrics: dict) -> None:
    """Invariance of each factor against depth, with the @image and @label calibration levels."""
    layers = [l for l in metrics if not l.startswith("@")]
    factors = list(next(iter(metrics.values()))["invariance"])
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for i, f in enumerate(factors):
        color = f"C{i}"
        ax.plot(layers, [metrics[l]["invariance"][f] for l in layers], "o-", color=color, label=f)
        for calib, style in (("@image", ":"), ("@label", "--")):
            if calib in metrics:
                ax.axhline(metrics[calib]["invariance"][f], color=color, ls=style, lw=1)
    for calib, style in (("@image", ":"), ("@label", "--")):  # one legend entry per calibration, not per factor
        if calib in metrics:
            ax.plot([], [], ls=style, color="grey", lw=1, label=f"at {calib}")
    ax.set_ylabel("invariance (1 = ignored)")
    ax.set_xlabel("layer (input -> output)")
    ax.set_ylim(-0.05, 1.15)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: lines reach both ends
    fig.tight_layout()
    fig.savefig(ctx.figures / "invariances_profile.png", dpi=120)
    plt.close(fig)


def invariance_figures(ctx: EvalContext, metrics: dict) -> None:
    ctx.figures.mkdir(parents=True, exist_ok=True)
    interp = getattr(ctx, "interpreter", None) or Interpreter(ctx.run)
    layer_grids(ctx, interp)
    if metrics:
        profile_plot(ctx, metrics)
