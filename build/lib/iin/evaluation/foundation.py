"""Metrics of the first stages: classifier and oracle accuracy, autoencoder reconstruction and preservation.

Each streams the whole test split batch by batch.
"""
from __future__ import annotations

import torch

from ..inference import fast
from ..metrics.readouts import centroid_distance
from .context import EvalContext


@torch.no_grad()
def _accuracy(ctx: EvalContext, model: torch.nn.Module) -> float:
    correct = total = 0
    for batch in ctx.batches():
        x = batch["image"]
        correct += int((fast(model.eval(), x)(x).argmax(1) == batch["label"]).sum())
        total += len(x)
    return correct / total


def classifier_metrics(ctx: EvalContext) -> dict:
    return {"test_accuracy": _accuracy(ctx, ctx.classifier)}


def oracle_metrics(ctx: EvalContext) -> dict:
    """`<label>_accuracy` of the oracle on the test split (`digit_accuracy` on colormnist)."""
    return {f"{ctx.label}_accuracy": _accuracy(ctx, ctx.oracle)}


@torch.no_grad()
def autoencoder_metrics(ctx: EvalContext) -> dict:
    sq_err, pixels, kept, n, near = 0.0, 0, {}, 0, 0
    for batch in ctx.batches():
        x = batch["image"]
        recon = ctx.autoencoder(x)
        sq_err, pixels, n = sq_err + float(((recon - x) ** 2).sum()), pixels + x.numel(), n + len(x)
        before, after = ctx.readouts(x), ctx.readouts(recon)
        for f in before:
            kept[f] = kept.get(f, 0) + int((before[f] == after[f]).sum())
        if ctx.cfg.data.get("name") == "shapes":  # single objects on black: the centroid is the position
            near += int((centroid_distance(recon, x) <= 2).sum())
    out = {"recon_mse": sq_err / pixels}
    if kept:
        out["preservation"] = {f: k / n for f, k in kept.items()}
    if ctx.cfg.data.get("name") == "shapes":
        out["position_within_2px"] = near / n
    if not ctx.has_oracle:
        ctx.report_missing("autoencoder", [f"preservation.{ctx.label}"], "oracle", ctx.oracle_command())
    return out
