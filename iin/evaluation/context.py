"""Everything an evaluation section needs from a run, loaded once and lazily."""
from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from ..data import FactorDataset, dataset_from_config, palette
from ..metrics.readouts import data_readouts
from ..run import Run


class MissingStage(LookupError):
    """A section cannot run because a stage it needs is not trained; evaluate reports it as missing."""


class EvalContext:
    """A run's config, test split and trained networks; `options` is the `eval` config group."""

    def __init__(self, run: Run, options: DictConfig | dict | None = None):
        self.run = run
        self.options = options or {}
        self.cfg = run.config

    def option(self, key: str, default: Any) -> Any:
        return self.options.get(key, default)

    @cached_property
    def figures(self) -> Path:
        """Where sections write their PNGs: a staging folder, moved into run/figures only if evaluation succeeds."""
        path = self.run.root / "figures.staging"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @cached_property
    def test(self) -> FactorDataset:
        return dataset_from_config(self.cfg.data, "test")

    @cached_property
    def train(self) -> FactorDataset:
        return dataset_from_config(self.cfg.data, "train")

    def subset_index(self, n: int) -> torch.Tensor:
        """Indices of a seeded random subset of n test examples (the split itself is sorted by class)."""
        return torch.randperm(len(self.test), generator=torch.Generator().manual_seed(int(self.option("seed", 0))))[:n]

    def subset(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The test images and labels of `subset_index(n)`."""
        idx = self.subset_index(n)
        return self.test.images[idx], self.test.labels[idx]

    @cached_property
    def palette(self) -> torch.Tensor | None:
        """The foreground palette when the data has a `color` factor drawn from one."""
        opts = self.cfg.data.get("options") or {}
        return palette(opts["n_colors"]) if "n_colors" in opts else None

    def readouts(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Ground-truth readouts of images: the oracle's prediction under the dataset's label name, the colour,
        and whatever else the dataset supports (iin.metrics.readouts.data_readouts)."""
        return data_readouts(images, self.oracle, self.cfg.data, self.test.label)

    @property
    def has_oracle(self) -> bool:
        return self.run.has("oracle")

    @cached_property
    def classifier(self) -> torch.nn.Module:
        return self.run.classifier()

    @cached_property
    def oracle(self) -> torch.nn.Module:
        return self.run.oracle()

    @cached_property
    def autoencoder(self) -> torch.nn.Module:
        return self.run.autoencoder()
