"""Recipe for the model under study and the oracle: cross-entropy on the label, on optionally augmented images."""
from __future__ import annotations

from typing import Callable

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

from .schedule import Optimizer, Scheduler, optimizers

Augment = Callable[[torch.Tensor], torch.Tensor]


class ClassifierModule(pl.LightningModule):
    """`augment` (images -> images, training batches only) draws from torch's global RNG, which the stage reseeds
    at every step, so a resumed run augments exactly as an uninterrupted one."""

    def __init__(self, net: nn.Module, optimizer: Optimizer, scheduler: Scheduler | None, augment: Augment | None):
        super().__init__()
        self.net, self.optimizer, self.scheduler, self.augment = net, optimizer, scheduler, augment

    def training_step(self, batch: dict, _idx: int) -> torch.Tensor:
        images = batch["image"] if self.augment is None else self.augment(batch["image"])
        loss = F.cross_entropy(self.net(images), batch["label"])
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch: dict, _idx: int) -> None:
        logits = self.net(batch["image"])
        self.log("val/loss", F.cross_entropy(logits, batch["label"]))
        self.log("val/accuracy", (logits.argmax(1) == batch["label"]).float().mean(), prog_bar=True)

    def configure_optimizers(self):
        return optimizers(self.parameters(), self.trainer, self.optimizer, self.scheduler)
