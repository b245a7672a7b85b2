"""The optimiser recipe of every stage, from its config: `optimizer` and `scheduler` are Hydra `_partial_` targets
(see iin/configs), so the run's config.yaml records every value that shaped the weights."""
from __future__ import annotations

from typing import Any, Callable, Iterable

import pytorch_lightning as pl
import torch

Optimizer = Callable[[Iterable[torch.nn.Parameter]], torch.optim.Optimizer]
Scheduler = Callable[..., torch.optim.lr_scheduler.LRScheduler]


def optimizers(params: Iterable[torch.nn.Parameter], trainer: pl.Trainer, optimizer: Optimizer,
               scheduler: Scheduler | None) -> Any:
    """Lightning's `configure_optimizers` answer: `optimizer(params)`, and `scheduler(opt, total_steps=...)`
    stepped once per batch over the whole run (None keeps the optimiser's rate constant)."""
    opt = optimizer(params)
    if scheduler is None:
        return opt
    sched = scheduler(opt, total_steps=trainer.estimated_stepping_batches)
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
