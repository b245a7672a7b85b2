"""Stage `autoencoder`: the first-stage VAE whose latent zbar the INNs model."""
from __future__ import annotations

from hydra.utils import instantiate
from omegaconf import DictConfig

from ..autoencoder import PatchDiscriminator
from ..checkpoint import plain
from ..lit import AutoencoderModule
from ..run import Run
from .common import build_datamodule, fit, seed, should_skip


def train_autoencoder(cfg: DictConfig, run: Run) -> None:
    if should_skip(cfg, run, "autoencoder"):
        return
    section = cfg.autoencoder
    seed(section.seed)
    dm = build_datamodule(cfg.data)
    channels, size, _ = dm.image_shape
    vae = instantiate(section.net, in_channels=channels, size=size)
    disc = PatchDiscriminator(channels) if section.discriminator else None
    module = AutoencoderModule(vae, beta=section.beta, lr=section.lr, discriminator=disc, disc_weight=section.disc_weight)
    fit(cfg, run, "autoencoder", module, datamodule=dm, max_epochs=section.epochs)
    run.save_module("autoencoder", vae, build={**plain(section.net), "in_channels": channels, "size": size})
