"""Stage `autoencoder`: the first stage (E, D) whose latent zbar the INNs model.

`autoencoder.epochs=0` keeps the given weights (a pretrained first stage named by `autoencoder.net._target_`):
nothing is trained, the protocol is checked and the weights are saved, as `classifier.epochs=0` does."""
from __future__ import annotations

import inspect
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import get_object, instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from ..autoencoder import PatchDiscriminator, check_first_stage
from ..checkpoint import plain
from ..errors import ConfigError
from ..lit import AutoencoderModule
from ..run import Run
from .common import build_datamodule, fit, seed, should_skip


def _accepts(target: Any, name: str) -> bool:
    try:
        params = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature: pass nothing extra
        return False
    return any(p.name == name or p.kind is p.VAR_KEYWORD for p in params)


def build_first_stage(net_cfg: DictConfig, channels: int, size: int) -> tuple[nn.Module, dict]:
    """Instantiate `autoencoder.net` for (channels, size, size) images; returns the module and its build config.

    The data's `in_channels` and `size` go to the constructor only where it takes them (a pretrained
    autoencoder's class may fix both)."""
    if "_target_" not in net_cfg or OmegaConf.is_missing(net_cfg, "_target_"):
        raise ConfigError("autoencoder.net._target_ is not set; name the first-stage class "
                          "(autoencoder=pretrained autoencoder.net._target_=your.package.YourAutoencoder)")
    try:
        target = get_object(net_cfg._target_)
    except Exception:  # Hydra raises ImportError or a generic error depending on which part is missing
        raise ConfigError(f"autoencoder.net._target_={net_cfg._target_!r} cannot be imported; "
                          f"give an importable class (pkg.module.Class) on the Python path") from None
    extra = {k: v for k, v in (("in_channels", channels), ("size", size)) if _accepts(target, k)}
    try:
        net = instantiate(net_cfg, **extra)
    except InstantiationException as err:
        cause = err.__cause__
        if not (isinstance(cause, TypeError) and "unexpected keyword argument" in str(cause)):
            raise
        raise ConfigError(f"autoencoder.net._target_={net_cfg._target_}: {cause}; "
                          f"every key of autoencoder.net goes to its constructor: start from autoencoder=pretrained "
                          f"(only _target_) and add arguments with +autoencoder.net.<name>=...") from None
    return net, {**plain(net_cfg), **extra}


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
        module = AutoencoderModule(net, beta=section.beta, lr=section.lr, discriminator=disc,
                                   disc_weight=section.disc_weight)
        fit(cfg, run, "autoencoder", module, datamodule=dm, max_epochs=section.epochs)
    run.save_module("autoencoder", net, build=build)
