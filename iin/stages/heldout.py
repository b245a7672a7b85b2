"""The held-out measure of the INN stages: the NLL of cached rows the flow never trains on, taken as training goes,
and the flow kept at the step where that NLL was lowest. A flow that overfits its cached features shows as a
held-out NLL that rises while the training NLL falls."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

import pytorch_lightning as pl
import torch

from ..checkpoint import load_state, save_checkpoint

Measure = Callable[[], dict[str, float]]  # {'train': value, 'heldout': value} of the training objective


class HeldOut(pl.Callback):
    """Every `every` steps and at the last: `measure()` (with the module in eval mode, no grad), logged as
    `holdout/<split>_<name>`. The module's weights at the lowest held-out value are written to `best_path`, and
    `best` ({'step', 'train', 'heldout'}) travels in last.ckpt, so a resumed run keeps both."""

    def __init__(self, measure: Measure, every: int, max_steps: int, best_path: Path, name: str = "nll_bpd"):
        if every < 1:
            raise ValueError(f"holdout.every_steps must be >= 1, got {every}")
        self.measure, self.every, self.max_steps, self.best_path = measure, int(every), int(max_steps), best_path
        self.name, self.best = name, None

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if step % self.every and step < self.max_steps:
            return
        module.eval()
        with torch.no_grad():
            nll = self.measure()
        module.train()
        module.log_dict({f"holdout/{split}_{self.name}": value for split, value in nll.items()})
        if self.best is None or nll["heldout"] < self.best["heldout"]:
            self.best = {"step": step, **nll}
            save_checkpoint(self._path(trainer.global_rank), state_dict=module.state_dict(), best=self.best)

    def _path(self, rank: int) -> Path:
        """One file per DDP rank: each restores its own after fit, with no wait for rank 0's last write."""
        return self.best_path.with_name(f"{self.best_path.stem}-rank{rank}{self.best_path.suffix}")

    def restore_best(self, trainer: pl.Trainer, module: torch.nn.Module) -> dict[str, float] | None:
        """Load the kept weights into `module` (after fit); the record of the kept step, None without a measure."""
        if self.best is None:
            return None
        module.load_state_dict(load_state(self._path(trainer.global_rank))["state_dict"])
        return self.best

    def state_dict(self) -> dict:
        return {"best": self.best}

    def load_state_dict(self, state: dict) -> None:
        self.best = state.get("best")


def measured_rows(train_rows: torch.Tensor, held: torch.Tensor, seed: int) -> dict[str, torch.Tensor]:
    """The rows a measure reads: every held-out row, and as many training rows (a seeded subset, in order)."""
    probe = torch.randperm(len(train_rows), generator=torch.Generator().manual_seed(int(seed)))[:len(held)]
    return {"train": train_rows[probe.sort().values], "heldout": held}


def mean_measure(batches: Callable[[str], Iterable[dict]],
                 values: Callable[[dict, torch.Generator], torch.Tensor], seed: int) -> Measure:
    """A Measure: the mean of the per-example `values(batch, generator)` over `batches(split)` for split 'train' and
    'heldout', with the noise of each batch drawn from a generator seeded by (seed, batch): every measure of a run
    sees the same noise."""
    def measure() -> dict[str, float]:
        out = {}
        for split in ("train", "heldout"):
            total, count = 0.0, 0
            for b, batch in enumerate(batches(split)):
                got = values(batch, torch.Generator().manual_seed(int(seed) * 1_000_003 + b))
                total, count = total + float(got.sum()), count + len(got)
            out[split] = total / count
        return out
    return measure
