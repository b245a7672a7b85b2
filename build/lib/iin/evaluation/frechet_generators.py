"""Generated sets for the Frechet section, per run: invariance samples per layer, concept swaps per target and factor."""
from __future__ import annotations

from typing import Callable

import torch

from .context import EvalContext

Generator = Callable[[EvalContext, int], "torch.Tensor | None"]
CHUNK = 250  # images per forward pass: bounded memory for any n


def invariance_generators(ctx: EvalContext) -> dict[str, Generator]:
    """`invariances/<layer>`: one sample D(tau^-1(v | Phi_l(x))), v ~ N(0, I), per test image x."""
    interp = ctx.interpreter

    def samples(layer: str) -> Generator:
        @torch.no_grad()
        def make(ctx: EvalContext, n: int) -> torch.Tensor:
            x, y = ctx.subset(n)
            seed = ctx.seed
            return torch.cat([interp.sample_invariances(xc, layer, n=1, labels=yc, seed=seed + i).images[:, 0]  # (B, 1, ...)
                              for i, (xc, yc) in enumerate(zip(x.split(CHUNK), y.split(CHUNK)))])
        return make

    return {f"invariances/{layer}": samples(layer) for layer in interp.layers}


def concept_generators(ctx: EvalContext) -> dict[str, Generator]:
    """`concepts/<target>/<factor>`: x with `factor` transplanted from another test image (when images exist)."""
    interp = ctx.interpreter

    def swaps(target: str, factor: str) -> Generator:
        @torch.no_grad()
        def make(ctx: EvalContext, n: int) -> torch.Tensor | None:
            x, _ = ctx.subset(n)
            donors = x.roll(1, dims=0)  # every image gets its neighbour's factor
            edits = [interp.swap(xc, dc, factor, target) for xc, dc in zip(x.split(CHUNK), donors.split(CHUNK))]
            return torch.cat([e.images for e in edits]) if edits[0].has_images else None
        return make

    return {f"concepts/{t}/{f}": swaps(t, f) for t in interp.targets for f in interp.dinn(t).factors
            if f != "residual"}

