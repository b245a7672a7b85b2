"""Per-layer invariance metrics, the layer profile and the FGSM attack analysis."""
from __future__ import annotations

import torch

from ..editing import Interpreter
from ..losses import bits_per_dim, nll
from ..metrics.invariance import cosine, invariance_score
from .context import EvalContext, MissingStage
from .invariance_figures import invariance_figures


def _rep_of_samples(interp: Interpreter, layer: str, images: torch.Tensor, oracle) -> torch.Tensor:
    labels = oracle(images).argmax(1) if layer == "@label" else None  # @label re-encodes via the oracle
    return interp.representation(images, layer, labels)


@torch.no_grad()
def layer_metrics(ctx: EvalContext, interp: Interpreter, layer: str, x: torch.Tensor, y: torch.Tensor) -> dict:
    """Every metric of one layer over test images x (labels y), S samples each."""
    n_samples, cinn, ae = int(ctx.option("samples", 16)), interp.cinn(layer), interp.autoencoder
    gen = torch.Generator().manual_seed(int(ctx.option("seed", 0)))
    z = interp.representation(x, layer, y)
    posterior = ae.encode(x)
    v, log_det = cinn(posterior.mean, c=[z])
    back = cinn(v, c=[z], rev=True, jac=False)[0]
    zbar = posterior.sample(gen)
    nll_bpd = bits_per_dim(nll(*cinn(zbar, c=[z])), cinn.z_dim).mean()
    samples = interp.decode(z.repeat_interleave(n_samples, 0), layer, generator=gen)  # (N*S, C, H, W)
    ref = {k: t.repeat_interleave(n_samples, 0) for k, t in ctx.readouts(x).items()}
    got = ctx.readouts(samples)
    z_rep = z.repeat_interleave(n_samples, 0)
    pred = interp.logits(x).argmax(1).repeat_interleave(n_samples, 0)
    perm = torch.randperm(len(x), generator=gen)
    return {
        "invertibility_max_abs_err": (back - posterior.mean).abs().max().item(),
        "nll_bits_per_dim": nll_bpd.item(),
        "reencode_cosine": cosine(_rep_of_samples(interp, layer, samples, ctx.oracle), z_rep).mean().item(),
        "reencode_cosine_ae": cosine(_rep_of_samples(interp, layer, ae(x), ctx.oracle), z).mean().item(),
        "reencode_cosine_random": cosine(z[perm], z).mean().item(),
        "prediction_agreement": (interp.logits(samples).argmax(1) == pred).float().mean().item(),
        "preservation": {f: (got[f] == ref[f]).float().mean().item() for f in got},
        "_readouts": {f: got[f].view(len(x), n_samples) for f in got},
    }


def _merge(parts: list[dict], weights: list[int]) -> dict:
    """Combine per-chunk metrics: means weighted by chunk size, max for errors, readouts concatenated."""
    out: dict = {}
    for key in parts[0]:
        vals = [p[key] for p in parts]
        if key == "_readouts":
            out[key] = {f: torch.cat([v[f] for v in vals]) for f in vals[0]}
        elif isinstance(vals[0], dict):
            out[key] = _merge(vals, weights)
        elif key.endswith("max_abs_err"):
            out[key] = max(vals)
        else:
            out[key] = sum(w * v for w, v in zip(weights, vals)) / sum(weights)
    return out


def invariance_metrics(ctx: EvalContext) -> dict:
    """`invariances.<layer>` for every trained layer, evaluated on (a seeded subset of) the test split."""
    interp = Interpreter(ctx.run)
    if not interp.layers:
        raise MissingStage("invariances (no layer's cINN is trained)")
    x, y = ctx.subset(int(ctx.option("invariance_images", 1000)))
    population = ctx.readouts(ctx.test.images)
    chunk = int(ctx.option("chunk", 100))
    out = {}
    for layer in interp.layers:
        chunks = list(zip(x.split(chunk), y.split(chunk)))
        m = _merge([layer_metrics(ctx, interp, layer, xc, yc) for xc, yc in chunks], [len(xc) for xc, _ in chunks])
        sampled = m.pop("_readouts")
        m["invariance"] = {f: invariance_score(sampled[f], population[f], int(population[f].max()) + 1)
                           for f in sampled}
        out[layer] = m
    ctx.interpreter = interp
    invariance_figures(ctx, out)
    return out
