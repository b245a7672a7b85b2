"""Stages `classifier` (the model under study) and `oracle` (an independent digit classifier for evaluation)."""
from __future__ import annotations

from omegaconf import DictConfig

from ..backbones import backbone_build
from ..checkpoint import plain
from ..lit import ClassifierModule
from ..run import Run
from .common import build_checked_backbone, build_datamodule, fit, partial, recipe, seed, should_skip


def train_classifier(cfg: DictConfig, run: Run, stage: str = "classifier") -> None:
    """Train `cfg[stage].net` on the data's label; epochs=0 keeps the given (e.g. pretrained) weights."""
    if should_skip(cfg, run, stage):
        return
    section = cfg[stage]
    seed(section.seed)
    dm = build_datamodule(cfg.data)
    net = build_checked_backbone(section.net, dm)
    if section.epochs > 0:
        fit(cfg, run, stage, ClassifierModule(net, **recipe(section), augment=partial(section.get("augment"))),
            datamodule=dm, max_epochs=section.epochs)
    run.save_module(stage, net, build=backbone_build(plain(section.net)))


def train_oracle(cfg: DictConfig, run: Run) -> None:
    train_classifier(cfg, run, stage="oracle")
