"""Figures of the attribution section: overlays per method, activation maximisation, DeepDream, sanity curves."""
from __future__ import annotations

import torch

from ..attribution import ActivationMaximization, DeepDream, overlay
from ..viz import line_plot, save_grid
from .context import EvalContext


def labelled_rows(rows: dict[str, torch.Tensor], path, title: str, col_labels: list[str] | None = None) -> None:
    """One labelled row per entry of `rows` (name -> images (N, 3, H, W)), all with the same N."""
    grid = torch.stack([images.expand(-1, 3, -1, -1) for images in rows.values()])  # (rows, N, 3, H, W)
    save_grid(grid, path, row_labels=list(rows), col_labels=col_labels, title=title)


def sanity_plot(curves: dict[str, dict[str, float]], path) -> None:
    """Mean Spearman with the original map as blocks are re-initialised from the top (Adebayo et al.)."""
    blocks = ["original", *next(iter(curves.values()))]
    series = {name: [1.0, *curve.values()] for name, curve in curves.items()}
    line_plot(blocks, series, path, title="cascading randomisation: maps should change as weights are randomised",
              xlabel="re-initialised up to (from the top)", ylabel="Spearman with original map", ylim=(-0.3, 1.05))


def save_figures(ctx: EvalContext, x: torch.Tensor, maps: dict[str, torch.Tensor], opts: dict,
                 curves: dict[str, dict[str, float]] | None = None, n: int = 8) -> None:
    """attribution_overlays/actmax/deepdream(/sanity).png into the run's figures folder."""
    images = x[:n]
    columns = [f"test image {i + 1}" for i in range(len(images))]
    labelled_rows({"input": images, **{k: overlay(images, v[:n]) for k, v in maps.items()}},
                  ctx.figures / "attribution_overlays.png", "attribution maps for the predicted class", columns)
    actmax = ActivationMaximization(ctx.classifier, seed=opts["seed"], **opts["methods"]["ActivationMaximization"])
    n_classes = int(ctx.cfg.data.get("num_classes", 10))
    labelled_rows({"synthesised": actmax.visualize(list(range(n_classes)), size=tuple(x.shape[-2:]))},
                  ctx.figures / "attribution_actmax.png", "activation maximisation: one image per class",
                  [f"class {c}" for c in range(n_classes)])
    dream = DeepDream(ctx.classifier, **({"layer": opts["layer"]} if opts["layer"] else {}))
    labelled_rows({"input": images, "DeepDream": dream.dream(images)}, ctx.figures / "attribution_deepdream.png",
                  "DeepDream: each input amplified along its own activations", columns)
    if curves:
        sanity_plot(curves, ctx.figures / "attribution_sanity.png")
