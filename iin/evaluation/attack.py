"""FGSM attack analysis: what the invariances look like when the representation is attacked (Fig. 5 analogue)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..editing import Interpreter
from ..features import moments
from ..metrics.invariance import explained_variance_share
from ..targets import is_layer
from ..viz import save_grid
from .context import EvalContext, MissingStage


def fgsm(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """x + eps * sign(grad_x CE(f(x), y)), clipped to [0, 1]."""
    x = x.clone().requires_grad_(True)
    with torch.enable_grad():
        grad, = torch.autograd.grad(F.cross_entropy(model(x), y), x)
    return (x + eps * grad.sign()).clamp(0, 1).detach()


@torch.no_grad()
def latent_samples(interp: Interpreter, x: torch.Tensor, layer: str, n: int, seed: int) -> torch.Tensor:
    """zbar_s = tau^-1(v_s | Phi_l(x)) for s = 1..n: (B, n, D)."""
    z = interp.representation(x, layer).repeat_interleave(n, 0)  # (B, ...) -> (B*n, ...)
    zbar = interp.cinn(layer).sample(z, generator=torch.Generator().manual_seed(seed))
    return zbar.view(len(x), n, -1)


def attack_metrics(ctx: EvalContext) -> dict:
    """Attack success, and per layer the share of Var(zbar) explained by v for clean and attacked inputs."""
    interp = ctx.interpreter
    if not [l for l in interp.layers if is_layer(l)]:
        raise MissingStage("invariances (no model layer's cINN is trained)")
    n, s, eps = int(ctx.option("attack_images")), int(ctx.option("samples")), float(ctx.option("fgsm_eps"))
    x, y = ctx.subset(n)
    x_adv = fgsm(interp.classifier, x, y, eps)
    with torch.no_grad():
        latents = (ctx.autoencoder.encode(b["image"]).mean for b in ctx.batches())  # the test split, streamed
        total_var = moments(latents, (interp.autoencoder.z_dim,))[1] ** 2
        pred_adv = interp.classifier(x_adv).argmax(1)
    out = {"fgsm_eps": eps, "clean_accuracy": float((interp.classifier(x).argmax(1) == y).float().mean()),
           "attacked_accuracy": float((pred_adv == y).float().mean()), "explained_variance": {}}
    for layer in [l for l in interp.layers if is_layer(l)]:
        out["explained_variance"][layer] = {
            "clean": explained_variance_share(latent_samples(interp, x, layer, s, 0), total_var),
            "attacked": explained_variance_share(latent_samples(interp, x_adv, layer, s, 0), total_var)}
    attack_figure(ctx, interp, x[:4], x_adv[:4])
    return out


@torch.no_grad()
def attack_figure(ctx: EvalContext, interp: Interpreter, x: torch.Tensor, x_adv: torch.Tensor) -> None:
    """Per layer and image: a row [x, samples | Phi(x)] above a row [x_adv, samples | Phi(x_adv)]."""
    pred, pred_adv = interp.classifier(x).argmax(1), interp.classifier(x_adv).argmax(1)
    labels = [f"image {i + 1} {kind} (pred {int(p)})" for i in range(len(x))
              for kind, p in (("clean", pred[i]), ("attacked", pred_adv[i]))]
    columns = ["input", *(f"sample {s + 1}" for s in range(7))]
    for layer in [l for l in interp.layers if is_layer(l)]:
        rows = [torch.cat([img[None], interp.sample_invariances(img[None], layer, n=7, seed=0).images[0]])  # (8, C, H, W)
                for clean, adv in zip(x, x_adv) for img in (clean, adv)]
        save_grid(torch.stack(rows), ctx.figures / f"attack_{layer}.png", row_labels=labels, col_labels=columns,
                  title=f"FGSM: invariance samples of {layer} for clean and attacked inputs")
