"""Recipes for a DisentanglingINN: FactorLoss on pairs, or plain NLL (unsupervised IIN)."""
from __future__ import annotations

import pytorch_lightning as pl
import torch

from ..flows import DisentanglingINN
from ..losses import FactorLoss, bits_per_dim, nll
from .schedule import Optimizer, Scheduler, optimizers


class ConceptModule(pl.LightningModule):
    """Batches: `z1`, `z2` (B, D) representations of pairs sharing factor `k` (B,); without pairs only `z1`.

    `noise` adds N(0, noise^2) in standardised units: it dequantises the point mass of ReLU units at 0.
    """

    def __init__(self, dinn: DisentanglingINN, rho: float, symmetric: bool, noise: float, optimizer: Optimizer,
                 scheduler: Scheduler | None):
        super().__init__()
        self.dinn, self.noise, self.optimizer, self.scheduler = dinn, noise, optimizer, scheduler
        self.factor_loss = FactorLoss(rho, symmetric)

    def _code(self, z: torch.Tensor, generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        noise = torch.randn_like(z) if generator is None else torch.randn(z.shape, generator=generator).to(z)
        return self.dinn(z + self.noise * self.dinn.norm.std * noise)

    def _nll(self, batch: dict, generator: torch.Generator | None) -> torch.Tensor:
        """Per example (B,), in nats: the pair NLL (FactorLoss), or without pairs the NLL of the codes."""
        zt1, log_det1 = self._code(batch["z1"], generator)
        if "z2" not in batch:
            return nll(zt1, log_det1)
        zt2, log_det2 = self._code(batch["z2"], generator)
        return self.factor_loss.per_pair(zt1, log_det1, zt2, log_det2, self.dinn.mask(batch["k"]))

    def objective(self, batch: dict, generator: torch.Generator | None = None) -> torch.Tensor:
        """Per example (B,): the pair NLL in nats, or without pairs the NLL in bits per dimension; the
        dequantisation noise from `generator` when given."""
        values = self._nll(batch, generator)
        return values if "z2" in batch else bits_per_dim(values, self.dinn.code_dim)

    def training_step(self, batch: dict, _idx: int) -> torch.Tensor:
        loss = self._nll(batch, None).mean()
        if "z2" in batch:
            self.log("train/factor_loss", loss, prog_bar=True)
        else:
            self.log("train/nll_bpd", bits_per_dim(loss.detach(), self.dinn.code_dim), prog_bar=True)
        return loss

    def configure_optimizers(self):
        return optimizers(self.dinn.parameters(), self.trainer, self.optimizer, self.scheduler)
