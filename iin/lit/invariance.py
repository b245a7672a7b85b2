"""Recipe for an InvarianceCINN: maximum likelihood of zbar ~ posterior given the layer's features."""
from __future__ import annotations

import pytorch_lightning as pl
import torch

from ..flows import InvarianceCINN
from ..losses import bits_per_dim, nll
from .schedule import Optimizer, Scheduler, optimizers


class InvarianceModule(pl.LightningModule):
    """Batches are dicts with the posterior `mean`, `logvar` of zbar and the condition `cond` = Phi_l(x)."""

    def __init__(self, cinn: InvarianceCINN, optimizer: Optimizer | None, scheduler: Scheduler | None):
        super().__init__()
        self.cinn, self.optimizer, self.scheduler = cinn, optimizer, scheduler

    def loss(self, batch: dict) -> torch.Tensor:
        """Mean -log p(zbar | z) in nats for zbar drawn from the cached posterior."""
        mean, logvar = batch["mean"], batch["logvar"]
        zbar = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)  # a sample of the posterior
        v, log_det = self.cinn(zbar, c=[batch["cond"]])
        return nll(v, log_det).mean()

    def training_step(self, batch: dict, _idx: int) -> torch.Tensor:
        loss = self.loss(batch)
        self.log("train/nll_bpd", bits_per_dim(loss.detach(), self.cinn.z_dim), prog_bar=True)
        return loss

    def configure_optimizers(self):
        return optimizers(self.cinn.parameters(), self.trainer, self.optimizer, self.scheduler)
