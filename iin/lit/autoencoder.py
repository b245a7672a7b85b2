"""Recipe for the first stage: reconstruction + beta * KL, optionally a patch-GAN term."""
from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch import nn

from ..autoencoder import PatchDiscriminator, hinge_d_loss
from ..losses import vae_loss
from .schedule import Optimizer, Scheduler, optimizers


class AutoencoderModule(pl.LightningModule):
    """Trains any first stage that follows the protocol (iin.autoencoder.protocol), the toolkit's VAE included."""

    def __init__(self, vae: nn.Module, beta: float, optimizer: Optimizer, scheduler: Scheduler | None,
                 discriminator: PatchDiscriminator | None = None, disc_weight: float = 0.0,
                 disc_optimizer: Optimizer | None = None):
        super().__init__()
        self.vae, self.beta, self.optimizer, self.scheduler = vae, beta, optimizer, scheduler
        self.discriminator, self.disc_weight, self.disc_optimizer = discriminator, disc_weight, disc_optimizer
        self.automatic_optimization = discriminator is None

    def _losses(self, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        posterior = self.vae.encode(x)
        recon = self.vae.decode(posterior.sample())
        return vae_loss(x, recon, posterior, self.beta), recon

    def training_step(self, batch: dict, _idx: int):
        x = batch["image"]
        losses, recon = self._losses(x)
        if self.discriminator is not None:
            losses["loss"] = self._adversarial_step(x, recon, losses["loss"])
        self.log_dict({f"train/{k}": v for k, v in losses.items()}, prog_bar=True)
        # stepped by hand when adversarial: the loss goes back detached, for the non-finite loss guard only
        return losses["loss"] if self.automatic_optimization else losses["loss"].detach()

    def _adversarial_step(self, x: torch.Tensor, recon: torch.Tensor, vae_objective: torch.Tensor) -> torch.Tensor:
        opt_g, opt_d = self.optimizers()
        g_loss = vae_objective - self.disc_weight * self.discriminator(recon).mean() * x[0].numel()
        opt_g.zero_grad()
        self.manual_backward(g_loss)
        opt_g.step()
        d_loss = hinge_d_loss(self.discriminator(x), self.discriminator(recon.detach()))
        opt_d.zero_grad()
        self.manual_backward(d_loss)
        opt_d.step()
        self.log("train/d_loss", d_loss)
        return g_loss

    def validation_step(self, batch: dict, idx: int) -> None:
        x = batch["image"]
        recon = self.vae(x)
        self.log("val/recon_mse", ((recon - x) ** 2).mean(), prog_bar=True)
        if idx == 0:  # keep a few pairs for the reconstruction grid
            self._shown = torch.cat([x[:8], recon[:8]]).detach().cpu()

    def on_validation_epoch_end(self) -> None:
        """Send a grid (top: images, bottom: reconstructions) to every logger that takes images (wandb)."""
        shown = getattr(self, "_shown", None)
        if shown is None or self.trainer.sanity_checking:
            return
        from ..viz import grid_image

        grid = grid_image(shown, nrow=len(shown) // 2).numpy()  # (H', W', 3) in [0, 1]
        for logger in self.loggers:
            if hasattr(logger, "log_image"):
                logger.log_image(key="val/reconstructions", images=[grid], step=self.global_step)

    def configure_optimizers(self):
        recipe = optimizers(self.vae.parameters(), self.trainer, self.optimizer, self.scheduler)
        if self.discriminator is None:
            return recipe
        if self.scheduler is not None:
            raise ValueError("the adversarial first stage steps its optimisers by hand: set autoencoder.scheduler=null")
        return recipe, self.disc_optimizer(self.discriminator.parameters())
