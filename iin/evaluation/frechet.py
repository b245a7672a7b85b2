"""Section `frechet`: Frechet distance to the test images of generated sets and of two references."""
from __future__ import annotations

from typing import Callable

import torch

from ..metrics.frechet import FrechetReference, OracleFeatures
from ..viz import bar_chart
from .context import EvalContext
from .frechet_generators import FAMILIES

NOTE = ("Inception weights cannot be downloaded here, so the Frechet distance uses the oracle's penultimate "
        "features (torchmetrics FID with a custom feature module): compare values within this toolkit only, "
        "not with published FID.")

# name -> fn(ctx, n) returning n images (n, C, H, W) in [0, 1], or None when its stage is not trained.
# Per-run sets (invariances/<layer>, concepts/<target>/<factor>) come from frechet_generators.FAMILIES.
Generator = Callable[[EvalContext, int], "torch.Tensor | None"]
GENERATORS: dict[str, Generator] = {}


def _noise(ctx: EvalContext, n: int) -> torch.Tensor:
    """Uniform noise images shaped like the test images: the far reference."""
    g = torch.Generator().manual_seed(ctx.seed)
    return torch.rand((n, *ctx.image_shape), generator=g)


def _train(ctx: EvalContext, n: int) -> torch.Tensor:
    """A seeded random subset of training images: the near reference (sampling error of two real sets)."""
    return ctx.subset(n, split="train")[0]


@torch.no_grad()
def _reconstructions(ctx: EvalContext, n: int) -> torch.Tensor:
    """D(E(x)) through the posterior mean for the test subset."""
    return torch.cat([ctx.autoencoder(chunk) for chunk in ctx.subset(n)[0].split(500)])


@torch.no_grad()
def _samples(ctx: EvalContext, n: int) -> torch.Tensor:
    """D(z) for z ~ N(0, I): unconditional autoencoder samples."""
    g = torch.Generator().manual_seed(int(ctx.option("seed", 0)))
    z = torch.randn((n, ctx.autoencoder.z_dim), generator=g)
    return torch.cat([ctx.autoencoder.decode(chunk) for chunk in z.split(500)])


REFERENCES: dict[str, Generator] = {"noise": _noise, "train": _train,
                                    "autoencoder_reconstructions": _reconstructions, "autoencoder_samples": _samples}


def frechet_metrics(ctx: EvalContext) -> dict:
    """FD (oracle penultimate features) of every reference and registered generator to the test images."""
    n = min(int(ctx.option("frechet_samples", 1000)), len(ctx.test))
    layer = str(ctx.option("frechet_layer", "penultimate"))
    features = OracleFeatures(ctx.oracle, layer=layer, size=ctx.image_shape[-1])
    reference = FrechetReference(ctx.subset(n)[0], features)  # a seeded subset: the split is sorted by class
    distances: dict[str, float] = {}
    per_run = {name: make for family in FAMILIES for name, make in family(ctx).items()}
    for name, make in {**REFERENCES, **per_run, **GENERATORS}.items():
        torch.manual_seed(int(ctx.option("seed", 0)))  # each entry independent of the order of the others
        images = make(ctx, n)
        if images is not None:
            distances[name] = reference.distance(images.detach().cpu())
    bar_chart(distances, ctx.figures / "frechet.png", title=f"Frechet distance to {n} test images (oracle features)",
              ylabel="FD (log scale)", log=True)
    return {**distances, "n_images": n, "features": f"oracle.{layer}", "note": NOTE}
