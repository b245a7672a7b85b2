"""The explorer's handlers: plain functions over one `Interpreter`, each a single batched call into its API.

Every handler takes images (1, C, H, W) in [0, 1] and returns screen pictures ((H, W, 3) uint8 arrays) and a
line of text. The web app (app.py) only wires them to widgets; the benchmark and tests call them directly.
"""
from __future__ import annotations

import numpy as np
import torch

from ..attribution import Attribution, overlay
from ..editing import Interpreter
from ..evaluation.attack import fgsm
from ..targets import CALIBRATION, is_layer, profile_order
from .images import picture

SCALE = 3  # the default magnification; the app passes the one from configs/explore.yaml


def order_layers(layers: list[str]) -> list[str]:
    """Layers from the input to the output: `@image` first, the model's layers in their order, `@label` last."""
    return [l for l in profile_order(layers) if is_layer(l) or l in CALIBRATION]


def describe(logits: torch.Tensor) -> str:
    """'3 (p 0.92)' for each row of logits (B, classes)."""
    p = logits.softmax(1)
    return ", ".join(f"{int(i)} (p {float(v):.2f})" for v, i in zip(*p.max(1)))


@torch.no_grad()
def with_reconstruction(interp: Interpreter, x: torch.Tensor, layer: str, n: int, seed: int) -> torch.Tensor:
    """[n samples of each x's invariances, then the reconstruction of each x]: (B, n + 1, C, H, W).

    `sample_invariances` and `reconstruct` in one reverse pass of the cINN and one decode: the samples are
    the ones `interp.sample_invariances(x, layer, n, seed=seed)` draws (same generator, same order).
    """
    z = interp.representation(x, layer)
    gen = torch.Generator(device=z.device).manual_seed(seed)
    draws = torch.randn(len(x) * n, interp.autoencoder.z_dim, generator=gen, device=z.device, dtype=z.dtype)
    v = torch.cat([draws.view(len(x), n, -1), interp.invariances(x, layer)[:, None]], 1)  # (B, n + 1, D)
    z_rep = z.repeat_interleave(n + 1, dim=0)  # (B, ...) -> (B*(n+1), ...)
    images = interp.decode(z_rep, layer, v.flatten(0, 1))  # (B*(n+1), C, H, W)
    return images.view(len(x), n + 1, *images.shape[1:])  # (B*(n+1), C, H, W) -> (B, n + 1, C, H, W)


def invariances(interp: Interpreter, x: torch.Tensor, layer: str, n: int = 8, seed: int = 0,
                scale: int = SCALE) -> tuple[np.ndarray, np.ndarray, str]:
    """n samples of what `layer` cannot tell apart from x; [x, its reconstruction]; the predictions."""
    images = with_reconstruction(interp, x, layer, n, seed)[0]  # (n + 1, C, H, W): samples, reconstruction
    samples, recon = images[:n], images[n:]
    logits = interp.logits(torch.cat([x, recon, samples]))  # one forward: x, reconstruction, samples
    agree = float((logits[2:].argmax(1) == logits[0].argmax()).float().mean())
    text = (f"model on x: {describe(logits[:1])}; on the reconstruction: {describe(logits[1:2])}; "
            f"{agree:.0%} of the {n} samples keep the prediction")
    return picture(samples, nrow=min(n, 8), scale=scale), picture(torch.cat([x, recon]), 2, scale), text


@torch.no_grad()
def layer_profile(interp: Interpreter, x: torch.Tensor, n: int = 4, seed: int = 0,
                  scale: int = SCALE) -> tuple[np.ndarray, str]:
    """One row per trained layer, from @image to @label: [x, n samples of that layer's invariances].

    Each layer's cINN draws as `sample_invariances` does; the decoder runs once for all layers.
    """
    layers = order_layers(interp.layers)
    zbar = []
    for layer in layers:
        z = interp.representation(x, layer).repeat_interleave(n, dim=0)  # (1, ...) -> (n, ...)
        zbar.append(interp.cinn(layer).sample(z, generator=torch.Generator(device=z.device).manual_seed(seed)))
    samples = interp.autoencoder.decode(torch.cat(zbar)).view(len(layers), n, *x.shape[1:])
    rows = torch.cat([torch.cat([x, s]) for s in samples])  # (layers*(n+1), C, H, W)
    return picture(rows, nrow=n + 1, scale=scale), "rows, top to bottom: " + ", ".join(layers)


def mixing(interp: Interpreter, a: torch.Tensor, b: torch.Tensor, layer: str,
           scale: int = SCALE) -> tuple[np.ndarray, str]:
    """[A, B, repr(A) + inv(B), repr(B) + inv(A)] for `layer`, both mixes in one batched call."""
    mixed = interp.mix(torch.cat([a, b]), torch.cat([b, a]), layer).images  # (2, C, H, W)
    logits = interp.logits(torch.cat([a, b, mixed]))
    text = (f"model on A, B: {describe(logits[:2])}; on A's {layer} with B's invariances, and the reverse: "
            f"{describe(logits[2:])}")
    return picture(torch.cat([a, b, mixed]), nrow=4, scale=scale), text


def adversarial(interp: Interpreter, x: torch.Tensor, layer: str, eps: float = 0.1, n: int = 8, seed: int = 0,
                scale: int = SCALE) -> tuple[np.ndarray, np.ndarray, str]:
    """FGSM x_adv against the model's prediction; rows of samples given Phi_l(x) and Phi_l(x_adv)."""
    pred = interp.logits(x).argmax(1)
    x_adv = fgsm(interp.classifier, x, pred, eps)
    both = torch.cat([x, x_adv])
    images = with_reconstruction(interp, both, layer, n, seed)  # (2, n + 1, C, H, W)
    samples, recon = images[:, :n], images[1, n:]  # the reconstruction of x_adv is the sanity check
    logits = interp.logits(torch.cat([both, recon]))
    rows = torch.cat([torch.cat([both[i:i + 1], samples[i]]) for i in range(2)])  # [x, samples | x_adv, samples]
    text = (f"model on x: {describe(logits[:1])}; on x_adv (eps {eps:g}): {describe(logits[1:2])}; "
            f"on the reconstruction of x_adv through {layer}: {describe(logits[2:])}")
    return picture(rows, nrow=n + 1, scale=scale), picture(torch.cat([x, x_adv, recon]), 3, scale), text


ACTIONS = ("swap", "interpolate", "resample")


def pool_codes(interp: Interpreter, pool: torch.Tensor, target: str, factor: str) -> torch.Tensor:
    """The factor's codes of the pool images (N, d): what `resample` draws from (the app computes them once)."""
    return interp.factors(pool, target)[factor]


def concepts(interp: Interpreter, x: torch.Tensor, donor: torch.Tensor, target: str, factor: str,
             action: str = "swap", n: int = 8, t: float = 1.0, seed: int = 0, codes: torch.Tensor | None = None,
             scale: int = SCALE) -> tuple[np.ndarray | None, np.ndarray, str]:
    """Edit factor `factor` of x (swap from donor, interpolate towards it, resample) and show it.

    Resample draws from `codes` (`pool_codes`), as `interp.resample(x, factor, n, pool=...)` with the same seed
    does, or from the prior N(0, I) when codes is None. Returns the decoded edits (None when the target has no
    decoder), the logits chart before/after, and a text. For interpolate, `t` in [0, 1] picks the step whose
    logits are charted; resample charts the mean logits.
    """
    if action == "swap":
        edit = interp.swap(x, donor, factor, target=target)
        after, which = edit.logits[0], "after the swap"
    elif action == "interpolate":
        edit = interp.interpolate(x, donor, factor, steps=n, target=target)
        k = int(round(t * (n - 1)))
        after, which = edit.logits[0, k], f"at step {k + 1} of {n} (t {k / max(n - 1, 1):.2f})"  # (1, n, K)
    elif action == "resample" and codes is None:
        edit = interp.resample(x, factor, n=n, target=target, seed=seed)
        after, which = edit.logits[0].mean(0), f"mean over {n} draws from the prior"  # (1, n, K)
    elif action == "resample":
        draw = torch.randint(len(codes), (n,), generator=torch.Generator().manual_seed(seed))  # resample's draw
        edit = interp.set(x.expand(n, -1, -1, -1), factor, codes[draw], target=target)  # (n, ...) edits of x
        after, which = edit.logits.mean(0), f"mean over {n} resamples"
    else:
        raise ValueError(f"unknown concept action {action!r}; choose one of {ACTIONS}")
    before = interp.logits(x)[0]
    edits = edit.images.reshape(-1, *x.shape[1:]) if edit.has_images else None  # (1[, n], C, H, W) -> (k, C, H, W)
    shown = None if edits is None else picture(torch.cat([x, edits]), nrow=len(edits) + 1, scale=scale)
    text = f"{factor} of {target}, {action}: model before {describe(before[None])}, {which} {describe(after[None])}"
    return shown, logit_chart(before, after, which), text


BEFORE, AFTER = (31, 119, 180), (255, 127, 14)  # matplotlib's first two colours


def logit_chart(before: torch.Tensor, after: torch.Tensor, which: str, width: int = 420,
                height: int = 200) -> np.ndarray:
    """A bar chart of the logits before and after an edit, as an (H, W, 3) uint8 array.

    Drawn with PIL rather than matplotlib: a matplotlib figure costs more than the whole edit on a small CPU.
    """
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    top, bottom, left = 24, height - 18, 34
    low, high = min(float(before.min()), float(after.min()), 0.0), max(float(before.max()), float(after.max()), 0.0)
    span = max(high - low, 1e-6)
    y = lambda v: top + (high - v) / span * (bottom - top)  # noqa: E731 - logit -> pixel row
    slot = (width - left - 8) / len(before)
    for k, (b, a) in enumerate(zip(before.tolist(), after.tolist())):
        x0 = left + k * slot
        for i, (v, colour) in enumerate(((b, BEFORE), (a, AFTER))):
            x = x0 + slot * (0.1 + 0.4 * i)
            draw.rectangle([x, min(y(v), y(0)), x + slot * 0.38, max(y(v), y(0))], fill=colour)
        draw.text((x0 + slot * 0.4, bottom + 3), str(k), fill="black")
    draw.line([left, y(0), width - 8, y(0)], fill="black")
    draw.text((2, top - 4), f"{high:.1f}", fill="black")
    draw.text((2, bottom - 10), f"{low:.1f}", fill="black")
    draw.rectangle([left, 6, left + 10, 14], fill=BEFORE)
    draw.text((left + 14, 5), "logits before", fill="black")
    draw.rectangle([left + 110, 6, left + 120, 14], fill=AFTER)
    draw.text((left + 124, 5), which, fill="black")
    return np.asarray(image).copy()


def attribution(interp: Interpreter, x: torch.Tensor, method: Attribution, layer: str | None, n: int = 8,
                seed: int = 0, scale: int = SCALE) -> tuple[np.ndarray, np.ndarray | None, str]:
    """[x, the method's map over x] and, when a layer is given, n of its invariance samples beside them."""
    maps = method.attribute(x)  # (1, 1, H, W) for the predicted class
    shown = overlay(x, maps)
    pred = describe(interp.logits(x))
    if layer is None:
        return picture(torch.cat([x, shown]), 2, scale), None, f"{type(method).__name__} for the prediction {pred}"
    samples = interp.sample_invariances(x, layer, n=n, seed=seed).images[0]  # (1, n, C, H, W) -> (n, C, H, W)
    text = f"{type(method).__name__} for the prediction {pred}; right: what {layer} cannot tell apart from x"
    return picture(torch.cat([x, shown]), 2, scale), picture(samples, nrow=min(n, 8), scale=scale), text
