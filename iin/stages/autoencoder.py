"""Stage `autoencoder`: the first stage (E, D) whose latent zbar the INNs model.

`autoencoder.epochs=0` keeps the given weights (a pretrained first stage named by `autoencoder.net._target_`):
nothing is trained, the protocol is checked and the weights are saved, as `classifier.epochs=0` does."""
from __future__ import annotations

from omegaconf import DictConfig

from ..autoencoder import PatchDiscriminator, build_first_stage, check_first_stage
from ..lit import AutoencoderModule
from ..run import Run
from .common import build_datamodule, fit, partial, recipe, seed, should_skip


def train_autoencoder(cfg: DictConfig, run: Run) -> None:
    if should_skip(cfg, run, "autoencoder"):
        return
    section = cfg.autoencoder
    seed(section.seed)
    dm = build_datamodule(cfg.data)
    channels, size, _ = dm.image_shape
    net, build = build_first_stage(section.net, channels, size)
    check_first_stage(net, channels, size)
    if section.epochs > 0:
        disc = PatchDiscriminator(channels) if section.discriminator else None
        module = AutoencoderModule(net, beta=section.beta, discriminator=disc, disc_weight=section.disc_weight,
                                   **recipe(section), disc_optimizer=partial(section.get("disc_optimizer")))
        fit(cfg, run, "autoencoder", module, datamodule=dm, max_epochs=section.epochs)
    run.save_module("autoencoder", net, build=build)
