"""The work behind train.py and evaluate.py (and the `iin-train`, `iin-evaluate` console scripts): plain functions
of a composed config, and their thin Hydra entry points. The configs ship inside the package (`iin/configs`)."""
from __future__ import annotations

import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig

from .config_check import check_config
from .run import Run

log = logging.getLogger("iin")
CONFIG_DIR = Path(__file__).resolve().parent / "configs"


def train(cfg: DictConfig) -> Run:
    """Run `cfg.stages` in order into `cfg.run_dir`; stages with a checkpoint are skipped unless force."""
    from .stages import STAGES

    unknown = [s for s in cfg.stages if s not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; available: {list(STAGES)}")
    check_config(cfg)
    run = Run(cfg.run_dir)
    run.save_config(cfg)
    for stage in cfg.stages:
        log.info("stage %s -> %s", stage, run.root)
        STAGES[stage](cfg, run)
    if not cfg.get("cache", {}).get("keep", True):
        from .features import drop_cache

        drop_cache(run, cfg.cache)
    return run


def evaluate(cfg: DictConfig) -> dict:
    """Evaluate the run in `cfg.run_dir`: metrics.json, figures/, report.html, and wandb when the run enables it."""
    from .evaluation import evaluate_run
    from .evaluation.tracking import log_to_wandb
    from .report import build_report

    check_config(cfg)
    metrics = evaluate_run(cfg.run_dir, cfg.get("eval"))
    report = build_report(cfg.run_dir)
    log.info("wrote %s/metrics.json and figures/", cfg.run_dir)
    wandb_dir = log_to_wandb(Run(cfg.run_dir), metrics)
    if wandb_dir:
        log.info("wandb (offline unless logger.wandb.mode=online): %s", wandb_dir)
    log.info("report: %s", report.resolve())
    return metrics


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
def train_main(cfg: DictConfig) -> None:
    """`iin-train` / `python train.py`: train the stages of an experiment."""
    train(cfg)


@hydra.main(version_base="1.3", config_path="configs", config_name="evaluate")
def evaluate_main(cfg: DictConfig) -> None:
    """`iin-evaluate` / `python evaluate.py run_dir=...`: evaluate a run directory."""
    evaluate(cfg)
