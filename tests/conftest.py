"""Shared fixtures: composed configs and a session-wide smoke run (every stage in seconds)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

CONFIGS = str(Path(__file__).resolve().parents[1] / "configs")


def make_config(overrides: list[str] | None = None, name: str = "train") -> DictConfig:
    """Compose a config the way train.py does, with overrides."""
    with initialize_config_dir(config_dir=CONFIGS, version_base="1.3"):
        return compose(config_name=name, overrides=overrides or [])


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def smoke_cfg(tmp_path_factory) -> DictConfig:
    out = tmp_path_factory.mktemp("outputs")
    return make_config(["experiment=smoke", f"paths.output_dir={out}"])


@pytest.fixture(scope="session")
def smoke_run(smoke_cfg):
    """The smoke experiment trained once for the whole session (all stages)."""
    from iin.cli import train

    return train(smoke_cfg)
