"""Recipe for an InvarianceCINN: maximum likelihood of zbar ~ posterior given the layer's features."""
from __future__ import annotations

import functools
import logging

import pytorch_lightning as pl
import torch

from ..config_check import PRECISIONS
from ..flows import InvarianceCINN
from ..losses import bits_per_dim, nll
from .schedule import Optimizer, Scheduler, optimizers

log = logging.getLogger("iin")


@functools.cache
def native_bfloat16(device_type: str) -> bool:
    """Whether the device multiplies bfloat16 matrices in hardware: elsewhere autocast emulates them, many times
    slower than float32 (a CPU without AVX512-BF16 or AMX)."""
    if device_type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device_type == "cpu":
        probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # private: absent in some torch builds
        return any(getattr(torch.cpu, name, lambda: False)() for name in probes)
    return False


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The dtype of the training forward: `auto` is bfloat16 where `device` has it in hardware, else float32."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return torch.bfloat16 if native_bfloat16(device.type) else torch.float32
    return getattr(torch, precision)


class InvarianceModule(pl.LightningModule):
    """Batches are dicts with the posterior `mean`, `logvar` of zbar and the condition `cond` = Phi_l(x)."""

    def __init__(self, cinn: InvarianceCINN, optimizer: Optimizer | None, scheduler: Scheduler | None,
                 precision: str = "float32"):
        super().__init__()
        self.cinn, self.optimizer, self.scheduler = cinn, optimizer, scheduler
        # bfloat16: the training forward under autocast (matrix products in bfloat16); Lightning's bf16-mixed
        # plugin refuses gradient clipping with fused optimisers, and a flow at a high rate needs both
        self.training_precision = precision

    def on_train_start(self) -> None:
        if self.training_precision == "bfloat16" and not native_bfloat16(self.device.type):
            log.warning("precision=bfloat16 is emulated on this %s and slower than float32 here; precision=auto "
                        "takes bfloat16 only where the hardware has it", self.device.type)
        if self.training_precision == "auto":  # the log says which one this run's hardware gave
            log.info("precision=auto trains in %s on this %s", autocast_dtype("auto", self.device), self.device.type)

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
        dtype = autocast_dtype(self.training_precision, self.device)
        with torch.autocast(self.device.type, dtype=dtype, enabled=dtype != torch.float32):
            return self.nll(batch).mean()

    def training_step(self, batch: dict, _idx: int) -> torch.Tensor:
        loss = self.loss(batch)
        self.log("train/nll_bpd", bits_per_dim(loss.detach(), self.cinn.z_dim), prog_bar=True)
        return loss

    def configure_optimizers(self):
        return optimizers(self.cinn.parameters(), self.trainer, self.optimizer, self.scheduler)
