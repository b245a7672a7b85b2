"""Exact resume: an interrupted stage, rerun, ends with the weights of an uninterrupted run.

Three things make a step's outcome independent of history, so that restoring the weights, optimiser and
scheduler (Lightning's last.ckpt) is enough:
- `Reseed` seeds torch, numpy and python at every training batch from (stage seed, global_step);
- epoch-based stages draw their data order from `EpochSampler`, seeded by (seed, epoch); Lightning calls
  `set_epoch` before every epoch;
- step-based stages read batches from a source that yields batch `s` as a function of (seed, s) only, and
  starts at its attribute `start_step`. `fit` sets it to the resumed global step before training starts
  (Lightning fetches the first batch before `on_train_start`); `Reseed.on_train_start` checks it.
Beside that, `ResumeKeeper` stores in last.ckpt the seconds trained so far and how many CSV log rows belong to
the saved state, so timing.json and the log continue where the checkpoint was taken.
"""
from __future__ import annotations

import csv
import logging
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from lightning_fabric.loggers.logger import rank_zero_experiment
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter
from torch.utils.data import Sampler

log = logging.getLogger("iin")


def step_seed(seed: int, step: int) -> int:
    """A 31-bit seed for (seed, step); distinct steps of one seed never share it within 2**31 steps."""
    return (int(seed) * 2_654_435_761 + int(step)) % (2**31 - 1)


def reseed(seed: int, step: int) -> None:
    s = step_seed(seed, step)
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)


class EpochSampler(Sampler[int]):
    """A shuffled order of range(n) that depends on (seed, epoch) only (not on earlier epochs)."""

    def __init__(self, n: int, seed: int = 0):
        self.n, self.seed, self.epoch = n, int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self):
        gen = torch.Generator().manual_seed(step_seed(self.seed, self.epoch))
        return iter(torch.randperm(self.n, generator=gen).tolist())

    def __len__(self) -> int:
        return self.n


class Reseed(pl.Callback):
    """Seed every RNG from (seed, global_step) before each training batch."""

    def __init__(self, seed: int, source: Any = None):
        self.seed, self.source = int(seed), source

    def on_train_start(self, trainer, module) -> None:
        if self.source is not None and self.source.start_step != trainer.global_step:
            raise RuntimeError(f"batch source starts at step {self.source.start_step}, "
                               f"the restored trainer at {trainer.global_step}")

    def on_train_epoch_start(self, trainer, module) -> None:
        """A new epoch (trainer.limit_train_batches) iterates the source again: from the current step on."""
        if self.source is not None:
            self.source.start_step = trainer.global_step

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        reseed(self.seed, trainer.global_step)


class ResumeKeeper(pl.Callback):
    """Stores {'elapsed', 'csv_rows', 'config'} under checkpoint['iin'] at every save of last.ckpt."""

    def __init__(self, elapsed_before: float, csv_logger: "ResumableCSVLogger | None", config: Any = None):
        self.elapsed_before, self.csv_logger, self.config = elapsed_before, csv_logger, config
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.start

    def on_save_checkpoint(self, trainer, module, checkpoint: dict) -> None:
        rows = self.csv_logger.flushed_rows() if self.csv_logger and trainer.is_global_zero else 0  # rank 0 logs
        checkpoint["iin"] = {"elapsed": self.elapsed(), "config": self.config, "csv_rows": rows}


def read_resume_state(last: Path, stage: str) -> dict | None:
    """last.ckpt loaded weights-only, or None. A truncated or foreign file is set aside with a warning (the stage
    then restarts): resuming from it would fail deep inside Lightning, and it must never be unpickled unsafely."""
    if not last.is_file():
        return None
    try:
        return torch.load(last, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # truncated zips, pickles of arbitrary objects, empty files
        aside = last.with_name(f"{last.name}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}")
        last.rename(aside)
        log.warning("stage %s: %s is unreadable or not a weights-only checkpoint (%s); set aside as %s, "
                    "the stage restarts", stage, last, type(err).__name__, aside.name)
        return None


class _AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer deletes metrics.csv when it starts; this one keeps the rows of the resumed state:
    the `keep_rows` written when last.ckpt was saved, and the rows of earlier steps than `keep_below_step`
    written right after it (Lightning logs a step after the checkpoint taken at its end)."""

    keep_rows, keep_below_step = 0, 0

    def _check_log_dir_exists(self) -> None:
        path = Path(self.metrics_file_path)
        if not path.is_file():
            return
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            rows, header = list(reader), reader.fieldnames or []
        rows = rows[: self.keep_rows] + [r for r in rows[self.keep_rows:]
                                         if (r.get("step") or "").isdigit() and int(r["step"]) < self.keep_below_step]
        if not rows:
            path.unlink()
            return
        with open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=header)
            writer.writeheader()
            writer.writerows(rows)
        self.metrics_keys = sorted(header)  # later saves append under the same header


class ResumableCSVLogger(CSVLogger):
    """CSVLogger that continues a resumed stage's metrics.csv: rows up to the checkpoint stay, later ones go."""

    def __init__(self, *args: Any, keep_rows: int = 0, keep_below_step: int = 0, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.keep_rows, self.keep_below_step = keep_rows, keep_below_step

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            writer = _AppendingWriter.__new__(_AppendingWriter)
            writer.keep_rows, writer.keep_below_step = self.keep_rows, self.keep_below_step
            writer.__init__(log_dir=self.log_dir)
            self._experiment = writer
        return self._experiment

    def flushed_rows(self) -> int:
        """Write buffered rows, then count the data rows of metrics.csv."""
        self.save()
        path = Path(self.experiment.metrics_file_path)
        if not path.is_file():
            return 0
        with open(path, newline="") as fh:
            return sum(1 for _ in csv.DictReader(fh))
