"""Recipe for an InvarianceCINN: maximum likelihood of zbar ~ posterior given the layer's features."""
from __future__ import annotations

import pytorch_lightning as pl
import torch

from ..flows import InvarianceCINN
from ..losses import bits_per_dim, nll
from .schedule import Optimizer, Scheduler, optimizers


class InvarianceModule(pl.LightningModule):
    """Batches are dicts with the posterior `mean`, `logvar` of zbar and the condition `cond` = Phi_l(x)."""

    def __init__(self, cinn: InvarianceCINN, optimizer: Optimizer | None, scheduler: Scheduler | None,
                 precision: str = "float32"):
        super().__init__()
        self.cinn, self.optimizer, self.scheduler = cinn, optimizer, scheduler
        # bfloat16: the training forward under autocast (matrix products in bfloat16); Lightning's bf16-mixed
        # plugin refuses gradient clipping with fused optimisers, and a flow at a high rate needs both
        self.autocast_dtype = getattr(torch, precision)

    def nll(self, batch: dict, generator: torch.Generator | None = None) -> torch.Tensor:
        """-log p(zbar | z) in nats per example (B,), for zbar drawn from the cached posterior (its noise from
        `generator` when given)."""
        mean, logvar = batch["mean"], batch["logvar"]
        noise = torch.randn_like(mean) if generator is None else torch.randn(mean.shape, generator=generator).to(mean)
        v, log_det = self.cinn(mean + torch.exp(0.5 * logvar) * noise, c=[batch["cond"]])
        return nll(v, log_det)

    def nll_bpd(self, batch: dict, generator: torch.Generator | None = None) -> torch.Tensor:
        return bits_per_dim(self.nll(batch, generator), self.cinn.z_dim)

    def loss(self, batch: dict) -> torch.Tensor:
        """The training objective: the mean NLL (nats), its forward in the training precision."""
        with torch.autocast(self.device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype != torch.float32):
            return self.nll(batch).mean()

    def training_step(self, batch: dict, _idx: int) -> torch.Tensor:
        loss = self.loss(batch)
        self.log("train/nll_bpd", bits_per_dim(loss.detach(), self.cinn.z_dim), prog_bar=True)
        return loss

    def configure_optimizers(self):
        return optimizers(self.cinn.parameters(), self.trainer, self.optimizer, self.scheduler)
