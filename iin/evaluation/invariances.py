"""Per-layer invariance metrics and the layer profile.

Samples, round trip, NLL, re-encoding and prediction agreement need only the model and the autoencoder; the
readout-based preservation and invariance need an oracle or an analytic readout (reported as missing otherwise).
"""
from __future__ import annotations

import torch

from ..editing import Interpreter
from ..losses import bits_per_dim, nll
from ..metrics.invariance import cosine, invariance_score
from ..targets import LABEL, invariance_stage
from .context import EvalContext, MissingStage
from .invariance_figures import invariance_figures


def _labels_of(ctx: EvalContext, interp: Interpreter, layer: str, images: torch.Tensor) -> torch.Tensor | None:
    """@label re-encodes generated images through the oracle (else the model itself)."""
    if layer != LABEL:
        return None
    return (ctx.oracle(images) if ctx.has_oracle else interp.logits(images)).argmax(1)


@torch.no_grad()
def layer_metrics(ctx: EvalContext, interp: Interpreter, layer: str, x: torch.Tensor, y: torch.Tensor) -> dict:
    """Every metric of one layer over test images x (labels y), S samples each."""
    n_samples, cinn, ae = int(ctx.option("samples")), interp.cinn(layer), interp.autoencoder
    gen = torch.Generator().manual_seed(ctx.seed)
    z = interp.representation(x, layer, y)
    posterior = ae.encode(x)
    v, log_det = cinn(posterior.mean, c=[z])
    back = cinn(v, c=[z], rev=True, jac=False)[0]
    zbar = posterior.sample(gen)
    nll_bpd = bits_per_dim(nll(*cinn(zbar, c=[z])), cinn.z_dim).mean()
    samples = interp.decode(z.repeat_interleave(n_samples, 0), layer, generator=gen)  # (N*S, C, H, W)
    z_rep = z.repeat_interleave(n_samples, 0)
    pred = interp.logits(x).argmax(1).repeat_interleave(n_samples, 0)
    perm = torch.randperm(len(x), generator=gen)
    recon = ae(x)
    out = {
        "invertibility_max_abs_err": (back - posterior.mean).abs().max().item(),
        "nll_bits_per_dim": nll_bpd.item(),
        "reencode_cosine": cosine(interp.representation(samples, layer, _labels_of(ctx, interp, layer, samples)),
                                  z_rep).mean().item(),
        "reencode_cosine_ae": cosine(interp.representation(recon, layer, _labels_of(ctx, interp, layer, recon)),
                                     z).mean().item(),
        "reencode_cosine_random": cosine(z[perm], z).mean().item(),
        "prediction_agreement": (interp.logits(samples).argmax(1) == pred).float().mean().item(),
    }
    if ctx.has_readouts:
        ref = {k: t.repeat_interleave(n_samples, 0) for k, t in ctx.readouts(x).items()}
        got = ctx.readouts(samples)
        out["preservation"] = {f: (got[f] == ref[f]).float().mean().item() for f in got}
        out["_readouts"] = {f: got[f].view(len(x), n_samples) for f in got}
    return out


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


@torch.no_grad()
def population_readouts(ctx: EvalContext, n: int) -> dict[str, torch.Tensor]:
    """Readouts of a seeded subset of up to n test images, batch by batch: the reference distribution."""
    parts: dict[str, list[torch.Tensor]] = {}
    for batch in ctx.batches(n):
        for f, values in ctx.readouts(batch["image"]).items():
            parts.setdefault(f, []).append(values)
    return {f: torch.cat(v) for f, v in parts.items()}


def invariance_metrics(ctx: EvalContext) -> dict:
    """`invariances.<layer>` for every trained layer, evaluated on (a seeded subset of) the test split."""
    interp = ctx.interpreter
    if not interp.layers:
        raise MissingStage("invariances (no layer's cINN is trained)")
    x, y = ctx.subset(int(ctx.option("invariance_images")))
    population = population_readouts(ctx, int(ctx.option("population_images"))) if ctx.has_readouts else {}
    if not ctx.has_oracle:
        ctx.report_missing("invariances", [f"preservation.{ctx.label}", f"invariance.{ctx.label}"], "oracle",
                           ctx.oracle_command())
    chunk = int(ctx.option("chunk"))
    out = {}
    for layer in interp.layers:
        chunks = list(zip(x.split(chunk), y.split(chunk)))
        m = _merge([layer_metrics(ctx, interp, layer, xc, yc) for xc, yc in chunks], [len(xc) for xc, _ in chunks])
        sampled = m.pop("_readouts", {})
        if sampled:
            m["invariance"] = {f: invariance_score(sampled[f], population[f], int(population[f].max()) + 1)
                               for f in sampled}
        out[layer] = {**m, **ctx.held_out(invariance_stage(layer), "nll_bits_per_dim")}
    invariance_figures(ctx, out)
    return out
