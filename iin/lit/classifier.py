"""Recipe for the model under study and the oracle: cross-entropy on the label."""
from __future__ import annotations

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

from .schedule import Optimizer, Scheduler, optimizers


class ClassifierModule(pl.LightningModule):
    def __init__(self, net: nn.Module, optimizer: Optimizer, scheduler: Scheduler | None):
        super().__init__()
        self.net, self.optimizer, self.scheduler = net, optimizer, scheduler

    def training_step(self, batch: dict, _idx: int) -> torch.Tensor:
        loss = F.cross_entropy(self.net(batch["image"]), batch["label"])
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch: dict, _idx: int) -> None:
        logits = self.net(batch["image"])
        self.log("val/loss", F.cross_entropy(logits, batch["label"]))
        self.log("val/accuracy", (logits.argmax(1) == batch["label"]).float().mean(), prog_bar=True)

    def configure_optimizers(self):
        return optimizers(self.parameters(), self.trainer, self.optimizer, self.scheduler)
