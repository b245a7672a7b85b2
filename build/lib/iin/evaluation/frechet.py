"""Section `frechet`: Frechet distance to the test images of generated sets and of two references."""
from __future__ import annotations

from typing import Callable

import torch
from hydra.utils import get_method

from ..metrics.frechet import FrechetReference, OracleFeatures
from ..viz import bar_chart
from .context import EvalContext

NOTE = ("Inception weights cannot be downloaded here, so the Frechet distance uses the oracle's penultimate "
        "features (torchmetrics FID with a custom feature module): compare values within this toolkit only, "
        "not with published FID.")

# A set is fn(ctx, n) returning n images (n, C, H, W) in [0, 1], or None when its stage is not trained; the sets and
# the per-run families (invariances/<layer>, concepts/<target>/<factor>) are listed in the eval config.
Generator = Callable[[EvalContext, int], "torch.Tensor | None"]


def noise_images(ctx: EvalContext, n: int) -> torch.Tensor:
    """Uniform noise images shaped like the test images: the far reference."""
    g = torch.Generator().manual_seed(ctx.seed)
    return torch.rand((n, *ctx.image_shape), generator=g)


def train_images(ctx: EvalContext, n: int) -> torch.Tensor:
    """A seeded random subset of training images: the near reference (sampling error of two real sets)."""
    return ctx.subset(n, split="train")[0]


@torch.no_grad()
def reconstructions(ctx: EvalContext, n: int) -> torch.Tensor:
    """D(E(x)) through the posterior mean for the test subset."""
    return torch.cat([ctx.autoencoder(chunk) for chunk in ctx.subset(n)[0].split(500)])


@torch.no_grad()
def autoencoder_samples(ctx: EvalContext, n: int) -> torch.Tensor:
    """D(z) for z ~ N(0, I): unconditional autoencoder samples."""
    g = torch.Generator().manual_seed(ctx.seed)
    z = torch.randn((n, ctx.autoencoder.z_dim), generator=g)
    return torch.cat([ctx.autoencoder.decode(chunk) for chunk in z.split(500)])


def frechet_metrics(ctx: EvalContext) -> dict:
    """FD (oracle penultimate features) of every reference and registered generator to the test images."""
    n = min(int(ctx.option("frechet_samples")), len(ctx.test))
    layer = str(ctx.option("frechet_layer"))
    features = OracleFeatures(ctx.oracle, layer=layer, size=ctx.image_shape[-1])
    reference = FrechetReference(ctx.subset(n)[0], features)  # a seeded subset: the split is sorted by class
    distances: dict[str, float] = {}
    sets = {name: get_method(fn) for name, fn in ctx.option("frechet_sets").items()}
    per_run = {name: make for family in ctx.option("frechet_families") for name, make in get_method(family)(ctx).items()}
    for name, make in {**sets, **per_run}.items():
        torch.manual_seed(ctx.seed)  # each entry independent of the order of the others
        images = make(ctx, n)
        if images is not None:
            distances[name] = reference.distance(images.detach().cpu())
    bar_chart(distances, ctx.figures / "frechet.png", title=f"Frechet distance to {n} test images (oracle features)",
              ylabel="FD (log scale)", log=True)
    return {**distances, "n_images": n, "features": f"oracle.{layer}", "note": NOTE}
