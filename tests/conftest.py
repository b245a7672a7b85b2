"""Shared fixtures: composed configs and a session-wide smoke run (every stage in seconds)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

from iin.cli import CONFIG_DIR, evaluate

CONFIGS = str(CONFIG_DIR)


def make_config(overrides: list[str] | None = None, name: str = "train") -> DictConfig:
    """Compose a config the way train.py does, with overrides."""
    with initialize_config_dir(config_dir=CONFIGS, version_base="1.3"):
        return compose(config_name=name, overrides=overrides or [])


FAST_EVAL = {"frechet_samples": 64, "invariance_images": 64, "concept_images": 64, "attack_images": 32,
             "samples": 4, "zhang_shots": 1, "zhang_draws": 2,
             "attribution": {"n_images": 4, "n_sanity": 1, "n_steps": 8,
                             "methods": {"RISE": {"n_masks": 100}, "LIME": {"n_samples": 50}}}}
# attribution takes the longest even when small: its own tests and test_report's `evaluated` fixture cover it.
HEAVY = ("attribution",)


def run_evaluate(run_dir: Path, skip: tuple[str, ...] = HEAVY) -> dict:
    """evaluate.py on run_dir with FAST_EVAL options, leaving out the sections in `skip`."""
    cfg = make_config([f"run_dir={run_dir}"], name="evaluate")
    with open_dict(cfg):
        cfg.eval.merge_with(FAST_EVAL)
        for name in skip:
            del cfg.eval.sections[name]
    return evaluate(cfg)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def smoke_cfg(tmp_path_factory) -> DictConfig:
    out = tmp_path_factory.mktemp("outputs")
    # the session's run keeps its feature cache: tests read and corrupt it (the default drops it, see test_pipeline)
    return make_config(["experiment=smoke", f"paths.output_dir={out}", "cache.keep=true"])


@pytest.fixture(scope="session")
def smoke_run(smoke_cfg):
    """The smoke experiment trained once for the whole session (all stages)."""
    from iin.cli import train

    return train(smoke_cfg)
