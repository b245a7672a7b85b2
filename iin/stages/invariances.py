"""Stage `invariances`: one InvarianceCINN per entry of `invariance.layers`, trained on cached features."""
from __future__ import annotations

import torch
from omegaconf import DictConfig

from ..batches import CachedBatches, RecomputeBatches, Rows, StepBatches, batch_loader, holdout_rows
from ..checkpoint import build_module, plain
from ..data import dataset_from_config
from ..errors import ConfigError
from ..features import FeatureCache, Representation, moments, streamed
from ..lit import InvarianceModule
from ..run import Run, stage_config
from ..targets import invariance_stage
from .common import fit, recipe, run_jobs, seed, should_skip
from .heldout import HeldOut, mean_measure, measured_rows

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
    cfg = stage_config(cfg, invariance_stage(layer))
    section = cfg.invariance
    dataset = dataset_from_config(cfg.data, "train")
    source, conditions = _source(cfg, run, layer, dataset)
    seed(section.seed)
    z_dim, cond_shape = source.batch(torch.arange(1))["mean"].shape[1], next(conditions()).shape[1:]
    build = {"_target_": "iin.flows.InvarianceCINN", "z_dim": z_dim, "cond_shape": list(cond_shape),
             **plain(section.flow)}
    cinn = build_module(build)
    cinn.embedder.norm.set(*moments(conditions(), tuple(cinn.embedder.norm.mean.shape)))
    module = InvarianceModule(cinn, **recipe(section), precision=section.precision)
    stage = invariance_stage(layer)
    rows, holdout = _held_out(section, run, stage, source, module)
    trainer = fit(cfg, run, stage, module, max_steps=section.steps, val=False, grad_clip=section.get("grad_clip"),
                  callbacks=(holdout,) if holdout else (),
                  train_dataloaders=batch_loader(StepBatches(rows, section.batch_size, section.seed)))
    kept = holdout.restore_best(trainer, module) if holdout else None
    run.save_module(stage, cinn, build=build, layer=layer, holdout=kept)


def _held_out(section: DictConfig, run: Run, stage: str, source,
              module: InvarianceModule) -> tuple[Rows, HeldOut | None]:
    """The rows to train on, and the callback that measures the held-out rows against as many training rows
    (None when `invariance.holdout.share` holds none out)."""
    spec = section.holdout
    train_rows, held = holdout_rows(len(source), spec.share, spec.max_rows, section.seed)
    if not len(held):
        return Rows(source, train_rows), None
    sets = {split: Rows(source, rows) for split, rows in measured_rows(train_rows, held, section.seed).items()}
    measure = mean_measure(lambda split: sets[split].batches(section.batch_size), module.nll_bpd, section.seed)
    return Rows(source, train_rows), HeldOut(measure, spec.every_steps, section.steps,
                                             run.lightning_dir(stage) / "best.pt")


def train_invariances(cfg: DictConfig, run: Run) -> None:
    section = cfg.invariance
    if section.mode not in MODES:
        raise ConfigError(f"invariance.mode must be one of {MODES}, got {section.mode!r}")
    layers = [l for l in section.layers if not should_skip(cfg, run, invariance_stage(l))]
    if not layers:
        return
    if section.mode == "cached":
        feature_cache(cfg, run).get("train", layers, dataset_from_config(cfg.data, "train"))
    steps = {layer: stage_config(cfg, invariance_stage(layer)).invariance.steps for layer in layers}
    layers.sort(key=lambda layer: -steps[layer])  # the longest first: the workers finish closer together
    run_jobs(train_layer, [(cfg, run, layer) for layer in layers], section.get("workers", 1))
