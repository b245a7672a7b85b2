"""Stage `invariances`: one InvarianceCINN per entry of `invariance.layers`, trained on cached features."""
from __future__ import annotations

import torch
from omegaconf import DictConfig

from ..batches import CachedBatches, RecomputeBatches, StepBatches, batch_loader
from ..checkpoint import build_module, plain
from ..data import dataset_from_config
from ..errors import ConfigError
from ..features import FeatureCache, Representation, moments, streamed
from ..lit import InvarianceModule
from ..run import Run
from ..targets import invariance_stage
from .common import fit, recipe, run_jobs, seed, should_skip

MODES = ("cached", "recompute")


def feature_cache(cfg: DictConfig, run: Run) -> FeatureCache:
    return FeatureCache(run, cfg.data, cfg.data.num_classes, cfg.get("cache"))


def _source(cfg: DictConfig, run: Run, layer: str, dataset):
    """The batch source and the condition's rows in chunks (for the embedder's statistics)."""
    if cfg.invariance.mode == "cached":
        cached = feature_cache(cfg, run).get("train", [layer], dataset)
        source = CachedBatches(mean=cached["mean"], logvar=cached["logvar"], cond=cached[layer])
        return source, (lambda: cached[layer].chunks())
    rep = Representation(run.classifier(), layer, cfg.data.num_classes)
    return RecomputeBatches(dataset, rep, run.autoencoder()), (lambda: streamed(rep, dataset))


def train_layer(cfg: DictConfig, run: Run, layer: str) -> None:
    """One layer's cINN, from the feature cache (filled beforehand by train_invariances)."""
    section = cfg.invariance
    dataset = dataset_from_config(cfg.data, "train")
    source, conditions = _source(cfg, run, layer, dataset)
    seed(section.seed)
    z_dim, cond_shape = source.batch(torch.arange(1))["mean"].shape[1], next(conditions()).shape[1:]
    build = {"_target_": "iin.flows.InvarianceCINN", "z_dim": z_dim, "cond_shape": list(cond_shape),
             **plain(section.flow)}
    cinn = build_module(build)
    cinn.embedder.norm.set(*moments(conditions(), tuple(cinn.embedder.norm.mean.shape)))
    batches = StepBatches(source, section.batch_size, section.seed)
    fit(cfg, run, invariance_stage(layer), InvarianceModule(cinn, **recipe(section)), max_steps=section.steps,
        val=False, grad_clip=section.get("grad_clip"), train_dataloaders=batch_loader(batches))
    run.save_module(invariance_stage(layer), cinn, build=build, layer=layer)


def train_invariances(cfg: DictConfig, run: Run) -> None:
    section = cfg.invariance
    if section.mode not in MODES:
        raise ConfigError(f"invariance.mode must be one of {MODES}, got {section.mode!r}")
    layers = [l for l in section.layers if not should_skip(cfg, run, invariance_stage(l))]
    if not layers:
        return
    if section.mode == "cached":
        feature_cache(cfg, run).get("train", layers, dataset_from_config(cfg.data, "train"))
    run_jobs(train_layer, [(cfg, run, layer) for layer in layers], section.get("workers", 1))
