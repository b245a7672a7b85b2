"""Section `attribution`: every baseline method on a seeded test subset, against random, centre and edge maps."""
from __future__ import annotations

import logging
import time

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from ..attribution import METHODS
from ..data import gather, seeded_indices
from ..attribution.evaluate import (auc, cascading_randomization, center_maps, confidence_interval, edge_maps,
                                    perturbation_curves, pointing_game, random_maps)
from .attribution_figures import save_figures
from .context import EvalContext

log = logging.getLogger("iin")

# Settings per method for the evaluation (small enough for about a minute on 2 CPU cores); eval options override.
METHOD_SETTINGS: dict[str, dict] = {"RISE": {"n_masks": 1000}, "LIME": {"n_samples": 500},
                                    "ActivationMaximization": {"attribute_steps": 16}}
LAYERED = ("GradCAM", "HiResCAM", "GuidedGradCAM", "DeepDream")  # methods that read `layer`
# Section options when neither the experiment nor evaluate.py sets them (configs/eval/default.yaml explains each).
DEFAULTS = {"n_images": 16, "n_sanity": 4, "n_steps": 32, "layer": None, "pointing_tolerance": 1}


def _plain(options) -> dict:
    """An `attribution` options node (DictConfig, dict or None) as a plain dict."""
    return OmegaConf.to_container(options, resolve=True) if isinstance(options, DictConfig) else dict(options or {})


def layered(*layers: dict) -> dict:
    """Merge option dicts, later ones winning; a null value means "not set here"; `methods` merge per method."""
    out: dict = {}
    for layer in layers:
        for key, value in layer.items():
            if key == "methods":
                for name, kw in (value or {}).items():
                    out.setdefault("methods", {}).setdefault(name, {}).update(kw or {})
            elif value is not None:
                out[key] = value
    return out


def settings(ctx: EvalContext) -> dict:
    """The `attribution` options: code defaults < the experiment's `eval.attribution` (its overlay, stored in the
    run's config) < the eval options given to evaluate.py."""
    experiment = _plain((ctx.cfg.get("eval") or {}).get("attribution"))
    code = {**DEFAULTS, "seed": int(ctx.option("seed", 0)), "methods": METHOD_SETTINGS}
    opts = layered(code, experiment, _plain(ctx.option("attribution", None)))
    return {"layer": None, **opts, "methods": {name: opts["methods"].get(name, {}) for name in METHODS}}


def summary(key: str, values, seed: int) -> dict:
    """{key: mean over images, key_ci: 95% bootstrap interval}."""
    v = np.asarray(values, dtype=float)
    return {key: float(v.mean()), f"{key}_ci": confidence_interval(v, seed=seed)}


def map_metrics(model, x, masks, target, maps, opts: dict) -> dict:
    """Deletion and insertion AUC and pointing game of maps (B, 1, H, W), with intervals over images."""
    out: dict = {}
    for mode in ("deletion", "insertion"):
        curves = perturbation_curves(model, x, maps, target, mode, n_steps=opts["n_steps"], seed=opts["seed"])
        out.update(summary(f"{mode}_auc", auc(curves).numpy(), opts["seed"]))
    if masks is not None:
        hits = pointing_game(maps, masks, opts["pointing_tolerance"]).numpy()
        out.update(summary("pointing_game", hits, opts["seed"]))
    return out


def method_factory(name: str, opts: dict):
    layer = {"layer": opts["layer"]} if name in LAYERED and opts["layer"] else {}
    return lambda model: METHODS[name](model, **layer, **opts["methods"][name])


# Why a method can lose to the random map on deletion/insertion (by method family); the report prints it.
REASONS = {
    "gradient": "unsigned gradient magnitudes mark where the score is sensitive (edges, pixels next to the object), "
                "not the evidence that is present, so removing them first leaves the object",
    "cam": "a coarse layer map (8x8 at 32x32) upsampled bilinearly orders pixels inside the object only roughly",
    "coarse": "a piecewise-constant map (windows or superpixels) with large ties, broken at random",
    "synthesis": "the map is where gradient ascent changes the image, not evidence present in it",
}
FAMILY = {"Saliency": "gradient", "GuidedBackprop": "gradient", "GuidedGradCAM": "gradient", "GradCAM": "cam",
          "HiResCAM": "cam", "Occlusion": "coarse", "LIME": "coarse", "Anchors": "coarse", "RISE": "coarse",
          "ActivationMaximization": "synthesis", "DeepDream": "synthesis"}
DISTRIBUTION_SHIFT = ("deleting the top pixels to black can leave a shape the model still recognises, while random "
                      "pixel deletion makes out-of-distribution speckle that lowers confidence faster "
                      "(the deletion metric's distribution-shift bias)")


def notes(results: dict) -> str:
    """Methods whose deletion AUC is not below, or insertion AUC not above, the random map's, with the reason."""
    rnd, lines = results["random"], []
    for name, r in results.items():
        if name not in FAMILY:
            continue
        lost = [f"{k} {r[f'{k}_auc']:.3f} vs random {rnd[f'{k}_auc']:.3f}" for k, bad in
                (("deletion", r["deletion_auc"] >= rnd["deletion_auc"]),
                 ("insertion", r["insertion_auc"] <= rnd["insertion_auc"])) if bad]
        if lost:
            only_deletion = len(lost) == 1 and lost[0].startswith("deletion")
            reason = DISTRIBUTION_SHIFT if only_deletion else REASONS[FAMILY[name]]
            lines.append(f"{name} not better than random ({', '.join(lost)}): {reason}")
    return "; ".join(lines) if lines else "every method beats the random map on deletion and insertion AUC"


def attribution_metrics(ctx: EvalContext) -> dict:
    """{Method: {deletion_auc, insertion_auc, pointing_game, sanity_spearman, seconds_per_image, ...}, random, edge,
    center, notes} on a seeded test subset; figures go to the staging folder."""
    opts, model = settings(ctx), ctx.classifier
    seed = opts["seed"]
    items = gather(ctx.test, seeded_indices(len(ctx.test), min(opts["n_images"], len(ctx.test)), seed))
    x, masks = items["image"], items.get("mask")
    with torch.no_grad():
        target = model(x).argmax(dim=1)
    results, all_maps, curves = {}, {}, {}
    for name in METHODS:
        make = method_factory(name, opts)
        start = time.perf_counter()
        maps = make(model).attribute(x, target)
        seconds = (time.perf_counter() - start) / len(x)
        sanity = cascading_randomization(make, model, x[: opts["n_sanity"]], target[: opts["n_sanity"]], seed)
        curves[name] = {block: float(rho.mean()) for block, rho in sanity.items()}
        results[name] = {**map_metrics(model, x, masks, target, maps, opts), "seconds_per_image": seconds,
                         **summary("sanity_spearman", list(sanity.values())[-1], seed), "sanity_curve": curves[name]}
        all_maps[name] = maps
        scalars = {k: v for k, v in results[name].items() if not isinstance(v, (list, dict))}
        log.info("attribution %s: %s", name, scalars)
    for name, maps in (("random", random_maps(x, seed)), ("center", center_maps(x)), ("edge", edge_maps(x))):
        results[name] = map_metrics(model, x, masks, target, maps, opts)
    results["notes"] = notes(results)
    save_figures(ctx, x, all_maps, opts, curves)
    return results
