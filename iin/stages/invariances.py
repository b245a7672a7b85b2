"""Stage `invariances`: one InvarianceCINN per entry of `invariance.layers`, trained on cached features."""
from __future__ import annotations

from omegaconf import DictConfig

from ..batches import CachedBatches, RecomputeBatches, batch_loader
from ..checkpoint import plain
from ..data import dataset_from_config
from ..features import FeatureCache, Representation
from ..flows import InvarianceCINN
from ..lit import InvarianceModule
from ..run import Run
from .common import fit, run_jobs, seed, should_skip


def stage_name(layer: str) -> str:
    return f"invariances/{layer}"


def _batches(cfg: DictConfig, run: Run, layer: str, dataset, cached: dict):
    if cfg.invariance.mode == "cached":
        return CachedBatches(mean=cached["mean"], logvar=cached["logvar"], cond=cached[layer])
    if cfg.invariance.mode == "recompute":
        rep = Representation(run.classifier(), layer, cfg.data.num_classes)
        return RecomputeBatches(dataset.images, dataset.labels, rep, run.autoencoder())
    raise ValueError(f"invariance.mode must be 'cached' or 'recompute', got {cfg.invariance.mode!r}")


def build_cinn(build: dict) -> InvarianceCINN:
    return InvarianceCINN(**build)


def train_layer(cfg: DictConfig, run: Run, layer: str) -> None:
    """One layer's cINN, from the feature cache (filled beforehand by train_invariances)."""
    section = cfg.invariance
    dataset = dataset_from_config(cfg.data, "train")
    cached = FeatureCache(run, cfg.data, cfg.data.num_classes).get("train", [layer], dataset)
    seed(section.seed)
    build = {"z_dim": cached["mean"].shape[1], "cond_shape": list(cached[layer].shape[1:]), **plain(section.flow)}
    cinn = build_cinn(build)
    cinn.embedder.norm.fit(cached[layer])
    loader = batch_loader(_batches(cfg, run, layer, dataset, cached), section.batch_size, section.seed)
    fit(cfg, run, stage_name(layer), InvarianceModule(cinn, lr=section.lr), max_steps=section.steps,
        val=False, grad_clip=section.get("grad_clip"), train_dataloaders=loader)
    run.save_module(stage_name(layer), cinn, build=build, layer=layer)


def train_invariances(cfg: DictConfig, run: Run) -> None:
    section = cfg.invariance
    layers = [l for l in section.layers if not should_skip(cfg, run, stage_name(l))]
    if not layers:
        return
    FeatureCache(run, cfg.data, cfg.data.num_classes).get("train", layers, dataset_from_config(cfg.data, "train"))
    run_jobs(train_layer, [(cfg, run, layer) for layer in layers], section.get("workers", 1))
