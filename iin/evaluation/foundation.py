"""Metrics of the first stages: classifier and oracle accuracy, autoencoder reconstruction and preservation."""
from __future__ import annotations

import torch

from ..metrics import predict
from ..metrics.readouts import centroid_distance
from .context import EvalContext


def classifier_metrics(ctx: EvalContext) -> dict:
    labels = ctx.test.labels
    return {"test_accuracy": (predict(ctx.classifier, ctx.test.images) == labels).float().mean().item()}


def oracle_metrics(ctx: EvalContext) -> dict:
    """`<label>_accuracy` of the oracle on the test split (`digit_accuracy` on colormnist)."""
    return {f"{ctx.test.label}_accuracy": (predict(ctx.oracle, ctx.test.images) == ctx.test.labels).float().mean().item()}


@torch.no_grad()
def autoencoder_metrics(ctx: EvalContext) -> dict:
    x = ctx.test.images
    recon = torch.cat([ctx.autoencoder(chunk) for chunk in x.split(500)])
    out = {"recon_mse": ((recon - x) ** 2).mean().item()}
    if ctx.has_oracle:
        before, after = ctx.readouts(x), ctx.readouts(recon)
        out["preservation"] = {f: (before[f] == after[f]).float().mean().item() for f in before}
    if ctx.cfg.data.get("name") == "shapes":  # single objects on black: the centroid is the position
        out["position_within_2px"] = (centroid_distance(recon, x) <= 2).float().mean().item()
    return out
