"""Figures of the invariance section: a labelled sample grid per layer and the layer profile."""
from __future__ import annotations

import torch

from ..editing import Interpreter
from ..targets import CALIBRATION, is_layer
from ..viz import line_plot, save_grid
from .context import EvalContext


@torch.no_grad()
def layer_grids(ctx: EvalContext, interp: Interpreter, n_images: int = 8, n_samples: int = 8) -> None:
    """Per layer, one row per test image: input, autoencoder round trip D(E(x)), 8 invariance samples."""
    x, y = ctx.subset(n_images)
    recon = interp.autoencoder(x)
    names = [f"{ctx.test.label} {int(label)}" for label in y]
    columns = ["input", "round trip", *(f"sample {s + 1}" for s in range(n_samples))]
    for layer in interp.layers:
        samples = interp.sample_invariances(x, layer, n=n_samples, labels=y, seed=0).images  # (B, n, C, H, W)
        grid = torch.cat([x[:, None], recon[:, None], samples], dim=1)  # (B, n + 2, C, H, W)
        save_grid(grid, ctx.figures / f"invariances_{layer}.png", row_labels=names, col_labels=columns,
                  title=f"invariances of {layer}: samples share the input's representation at {layer}")


def profile_plot(ctx: EvalContext, metrics: dict) -> None:
    """Invariance of each factor against depth, with the @image and @label calibration levels."""
    layers = [l for l in metrics if is_layer(l)]
    factors = list(next(iter(metrics.values()))["invariance"])
    series = {f: [metrics[l]["invariance"][f] for l in layers] for f in factors}
    levels = {f: {c: metrics[c]["invariance"][f] for c in CALIBRATION if c in metrics} for f in factors}
    line_plot(layers, series, ctx.figures / "invariances_profile.png", title="layer profile",
              xlabel="layer (input -> output)", ylabel="invariance (1 = ignored)", ylim=(-0.05, 1.15), levels=levels)


def invariance_figures(ctx: EvalContext, metrics: dict) -> None:
    interp = ctx.interpreter
    layer_grids(ctx, interp)
    if any("invariance" in m for m in metrics.values()):  # readouts exist (an oracle or an analytic readout)
        profile_plot(ctx, metrics)
