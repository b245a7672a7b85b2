"""Figures of the attribution section: overlays per method, activation maximisation, DeepDream, sanity curves."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from ..attribution import ActivationMaximization, DeepDream, overlay  # noqa: E402
from .context import EvalContext  # noqa: E402


def _show(ax, image: torch.Tensor) -> None:
    ax.imshow(image.detach().permute(1, 2, 0).clamp(0, 1).cpu().numpy())  # (C, H, W) -> (H, W, C)
    ax.set_xticks([])
    ax.set_yticks([])


def image_grid(rows: dict[str, torch.Tensor], path, scale: float = 1.1) -> None:
    """One labelled row per entry of `rows` (name -> images (N, 3, H, W)), saved to `path`."""
    n = max(len(v) for v in rows.values())
    fig, axes = plt.subplots(len(rows), n, figsize=(scale * n + 1.5, scale * len(rows)), squeeze=False)
    for r, (name, images) in enumerate(rows.items()):
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
        for c in range(n):
            _show(axes[r, c], images[c]) if c < len(images) else axes[r, c].axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def sanity_plot(curves: dict[str, dict[str, float]], path) -> None:
    """Mean Spearman with the original map as blocks are re-initialised from the top (Adebayo et al.)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, (name, curve) in enumerate(curves.items()):  # tab20: 11 methods, distinct colours
        ax.plot(["original", *curve], [1.0, *curve.values()], marker="o", label=name, color=plt.cm.tab20(i))
    ax.set_ylabel("Spearman with original map")
    ax.set_xlabel("cascading randomisation (re-initialised up to)")
    ax.axhline(0, color="gray", lw=0.5)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save_figures(ctx: EvalContext, x: torch.Tensor, maps: dict[str, torch.Tensor], opts: dict,
                 curves: dict[str, dict[str, float]] | None = None, n: int = 8) -> None:
    """attribution_overlays/actmax/deepdream(/sanity).png into the run's figures folder."""
    ctx.figures.mkdir(parents=True, exist_ok=True)
    images = x[:n]
    image_grid({"image": images, **{k: overlay(images, v[:n]) for k, v in maps.items()}},
               ctx.figures / "attribution_overlays.png")
    actmax = ActivationMaximization(ctx.classifier, seed=opts["seed"], **opts["methods"]["ActivationMaximization"])
    n_classes = int(ctx.cfg.data.get("num_classes", 10))
    image_grid({"class": actmax.visualize(list(range(n_classes)), size=tuple(x.shape[-2:]))},
               ctx.figures / "attribution_actmax.png")
    dream = DeepDream(ctx.classifier, **({"layer": opts["layer"]} if opts["layer"] else {}))
    image_grid({"image": images, "DeepDream": dream.dream(images)}, ctx.figures / "attribution_deepdream.png")
    if curves:
        sanity_plot(curves, ctx.figures / "attribution_sanity.png")
