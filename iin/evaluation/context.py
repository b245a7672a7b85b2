"""Everything an evaluation section needs from a run, loaded once and lazily.

Sections read images through `subset` (a bounded, seeded subset) or `batches` (the whole split, batch by batch):
never a whole split at once, so evaluation memory does not grow with the data.
"""
from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any, Iterator

import torch
from omegaconf import DictConfig

from ..data import dataset_from_config, gather, iter_batches, palette, seeded_indices
from ..metrics.readouts import data_readouts
from ..run import Run


class MissingStage(LookupError):
    """A section cannot run because a stage it needs is not trained; evaluate reports it as missing."""


class EvalContext:
    """A run's config, data splits and trained networks; `options` is the `eval` config group."""

    def __init__(self, run: Run, options: DictConfig | dict | None = None):
        self.run = run
        self.options = options or {}
        self.cfg = run.config
        self.missing: list[dict] = []  # per-metric gaps (e.g. readouts without an oracle), added to metrics.json

    def option(self, key: str, default: Any = None) -> Any:
        """An `eval` option; its default is in iin/configs/eval/default.yaml (merged in by evaluate_run)."""
        return self.options.get(key, default)

    @property
    def seed(self) -> int:
        return int(self.option("seed"))

    @cached_property
    def figures(self) -> Path:
        """Where sections write their PNGs: a staging folder, moved into run/figures only if evaluation succeeds."""
        path = self.run.root / "figures.staging"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @cached_property
    def test(self):
        return dataset_from_config(self.cfg.data, "test")

    @cached_property
    def train(self):
        return dataset_from_config(self.cfg.data, "train")

    @property
    def workers(self) -> int:
        return int(self.cfg.data.get("num_workers", 0) or 0)

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.test[0]["image"].shape)

    def subset_index(self, n: int, split: str = "test") -> torch.Tensor:
        """Indices of a seeded random subset of n examples (splits may be sorted by class)."""
        data = self.test if split == "test" else self.train
        return seeded_indices(len(data), min(n, len(data)), self.seed)

    def items(self, n: int, split: str = "test") -> dict[str, torch.Tensor]:
        """The items (image, label, factors, mask when known) of `subset_index(n)`, stacked."""
        data = self.test if split == "test" else self.train
        return gather(data, self.subset_index(n, split), num_workers=self.workers)

    def subset(self, n: int, split: str = "test") -> tuple[torch.Tensor, torch.Tensor]:
        """The images and labels of `subset_index(n)`."""
        items = self.items(n, split)
        return items["image"], items["label"]

    def batches(self, n: int | None = None, batch_size: int = 500) -> Iterator[dict[str, torch.Tensor]]:
        """The test split (or its seeded subset of n) batch by batch."""
        idx = None if n is None else self.subset_index(n)
        return iter_batches(self.test, batch_size, idx, self.workers)

    def held_out(self, stage: str, unit: str) -> dict:
        """What training measured at the step it kept (`train_<unit>`, `heldout_<unit>`, `kept_step`): the
        objective on held-out rows and on as many training rows; empty for runs trained without held-out rows."""
        kept = self.run.load(stage).get("holdout")
        if not kept:
            return {}
        return {f"train_{unit}": kept["train"], f"heldout_{unit}": kept["heldout"], "kept_step": kept["step"]}

    def report_missing(self, section: str, metrics: list[str], needs: str, command: str) -> None:
        """Record metrics a section could not compute, with the command that makes them possible."""
        entry = {"section": section, "metrics": metrics, "needs": [needs], "command": command}
        if entry not in self.missing:
            self.missing.append(entry)

    @cached_property
    def palette(self) -> torch.Tensor | None:
        """The foreground palette when the data has a `color` factor drawn from one."""
        opts = self.cfg.data.get("options") or {}
        return palette(opts["n_colors"]) if "n_colors" in opts else None

    @property
    def label(self) -> str:
        """The name of the label factor (`digit` on colormnist, `class` on an image folder, ...)."""
        return self.test.label

    def readouts(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Ground-truth readouts of images: the oracle's prediction under the label's name (when an oracle is
        trained), the colour (when the data has a palette), and whatever else the dataset supports
        (iin.metrics.readouts.data_readouts)."""
        return data_readouts(images, self.oracle if self.has_oracle else None, self.cfg.data, self.label)

    @property
    def has_readouts(self) -> bool:
        return self.has_oracle or self.palette is not None or self.cfg.data.get("name") == "shapes"

    def oracle_command(self) -> str:
        return f"python train.py stages=[oracle] run_dir={self.run.root}"

    @property
    def has_oracle(self) -> bool:
        return self.run.has("oracle")

    @cached_property
    def interpreter(self):
        """One Interpreter for every section (its networks load once)."""
        from ..editing import Interpreter

        return Interpreter(self.run)

    @cached_property
    def classifier(self) -> torch.nn.Module:
        return self.run.classifier()

    @cached_property
    def oracle(self) -> torch.nn.Module:
        return self.run.oracle()

    @cached_property
    def autoencoder(self) -> torch.nn.Module:
        return self.run.autoencoder()
