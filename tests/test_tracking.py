"""Evaluation to wandb: flat scalars and figures go to an offline run in the run directory when enabled."""
from __future__ import annotations

import torch
from omegaconf import OmegaConf

from iin.evaluation.tracking import flat_scalars, log_to_wandb
from iin.run import Run
from iin.viz import save_grid

METRICS = {"classifier": {"test_accuracy": 0.9}, "frechet": {"noise": 3.0, "note": "text"},
           "missing": [], "timing": {"classifier": 1.5}, "flag": True}


def make_run(root, enabled: bool) -> Run:
    mode = "offline" if enabled else "disabled"
    OmegaConf.save({"experiment_name": "t", "logger": {"wandb": {"enabled": enabled, "mode": mode, "project": "iin"}}},
                   root / "config.yaml")
    save_grid(torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0)), root / "figures" / "grid.png", nrow=2)
    return Run(root)


def test_flat_scalars_keep_numbers_only():
    assert flat_scalars(METRICS) == {"classifier/test_accuracy": 0.9, "frechet/noise": 3.0, "timing/classifier": 1.5}


def test_disabled_wandb_writes_nothing(tmp_path):
    assert log_to_wandb(make_run(tmp_path, enabled=False), METRICS) is None
    assert not (tmp_path / "wandb").exists()


def test_offline_wandb_run_in_run_directory(tmp_path):
    files = log_to_wandb(make_run(tmp_path, enabled=True), METRICS)
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert files and len(runs) == 1 and list(runs[0].glob("*.wandb"))
    assert (runs[0] / "files" / "media" / "images").is_dir()  # the figure went along
