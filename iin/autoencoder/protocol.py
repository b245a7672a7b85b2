"""The first-stage protocol: what the toolkit needs from an autoencoder (E, D), yours or its own.

A first stage is an nn.Module with

- `encode(x)`: images (B, in_channels, size, size) in [0, 1] -> a posterior with
  `mean` (B, z_dim), `logvar` (B, z_dim) and `sample(generator=None)` -> zbar (B, z_dim);
- `decode(zbar)`: (B, z_dim) -> images (B, in_channels, size, size) in [0, 1];
- the attributes `z_dim`, `size` and `in_channels` (ints).

`iin.autoencoder.VAE` is one implementation; its posterior, `DiagonalGaussian` below, can serve yours too.
A pretrained autoencoder plugs in through `autoencoder.net._target_=pkg.Class` (its constructor gets
`in_channels` and `size` only if it takes them) and `autoencoder.epochs=0`: the stage then trains nothing,
checks the protocol and saves the weights.
An autoencoder with a spatial latent or images in [-1, 1] needs a thin wrapper that flattens the latent
and rescales the images.
"""
from __future__ import annotations

import inspect
from typing import Any, Protocol

import torch
from hydra.utils import get_object
from omegaconf import DictConfig, OmegaConf
from torch import nn

from ..checkpoint import build_module, plain
from ..errors import ConfigError

ATTRIBUTES = ("z_dim", "size", "in_channels")
METHODS = ("encode", "decode")
POSTERIOR = ("mean", "logvar", "sample")


class Posterior(Protocol):
    mean: torch.Tensor  # (B, z_dim)
    logvar: torch.Tensor  # (B, z_dim)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor: ...


def kl_standard_normal(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)) summed over dimensions: (B, D) -> (B,)."""
    return 0.5 * (mean**2 + logvar.exp() - 1.0 - logvar).flatten(1).sum(dim=1)


class DiagonalGaussian:
    """N(mean, exp(logvar)) per dimension (the VAE loss takes its KL from mean and logvar, as for any posterior)."""

    def __init__(self, mean: torch.Tensor, logvar: torch.Tensor):
        self.mean, self.logvar = mean, logvar.clamp(-30.0, 20.0)

    @property
    def std(self) -> torch.Tensor:
        return torch.exp(0.5 * self.logvar)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        noise = torch.randn(self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + self.std * noise


class FirstStage(Protocol):
    z_dim: int
    size: int
    in_channels: int

    def encode(self, x: torch.Tensor) -> Posterior: ...

    def decode(self, zbar: torch.Tensor) -> torch.Tensor: ...


def _name(module: object) -> str:
    return f"{type(module).__module__}.{type(module).__qualname__}"


def _fail(module: object, what: str) -> ConfigError:
    return ConfigError(f"the first stage {_name(module)} breaks the protocol (see iin.autoencoder.protocol): {what}")


def _check_members(module: object) -> None:
    if not isinstance(module, nn.Module):
        raise _fail(module, "it is not a torch.nn.Module (its weights are saved as a state_dict)")
    missing = [m for m in METHODS if not callable(getattr(module, m, None))]
    missing += [a for a in ATTRIBUTES if not hasattr(module, a)]
    if missing:
        raise _fail(module, f"it lacks {', '.join(missing)}")
    bad = [f"{a}={getattr(module, a)!r}" for a in ATTRIBUTES
           if not isinstance(getattr(module, a), int) or isinstance(getattr(module, a), bool) or getattr(module, a) < 1]
    if bad:
        raise _fail(module, f"{', '.join(bad)} must be integers >= 1")


def _call(module: object, method: str, arg: torch.Tensor):
    try:
        return getattr(module, method)(arg)
    except Exception as err:  # the user's code: report where it failed on a well-formed input
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise _fail(module, f"{method} fails on a {tuple(arg.shape)} batch: {type(err).__name__}: {first}") from None


@torch.no_grad()
def _probe(module: nn.Module) -> None:
    """Encode and decode two grey images; check the posterior's members and every shape."""
    c, s, d = module.in_channels, module.size, module.z_dim
    param = next(module.parameters(), None)
    x = torch.full((2, c, s, s), 0.5, device=param.device if param is not None else "cpu")
    posterior = _call(module, "encode", x)
    missing = [m for m in POSTERIOR if not hasattr(posterior, m)]
    if missing:
        raise _fail(module, f"encode returns a {type(posterior).__name__} that lacks {', '.join(missing)}")
    shapes = {"encode(x).mean": posterior.mean, "encode(x).logvar": posterior.logvar,
              "encode(x).sample()": posterior.sample()}
    bad = [f"{k} is {tuple(v.shape)}" for k, v in shapes.items() if tuple(v.shape) != (2, d)]
    if bad:
        raise _fail(module, f"{', '.join(bad)}, expected (2, z_dim={d}) for a (2, {c}, {s}, {s}) batch")
    images = _call(module, "decode", posterior.mean)
    if tuple(images.shape) != (2, c, s, s):
        raise _fail(module, f"decode returns {tuple(images.shape)}, expected (2, {c}, {s}, {s})")
    if images.min() < 0 or images.max() > 1:
        raise _fail(module, f"decode returns values in [{images.min():.3g}, {images.max():.3g}], expected [0, 1]")


def check_first_stage(module: nn.Module, channels: int | None = None, size: int | None = None,
                      probe: bool = True) -> nn.Module:
    """Raise ConfigError (one line naming what is missing or wrong) unless `module` satisfies the protocol for
    images (channels, size, size); `probe` also runs encode and decode on two images. Returns the module."""
    _check_members(module)
    if (channels is not None and module.in_channels != channels) or (size is not None and module.size != size):
        raise ConfigError(f"the first stage {_name(module)} takes {module.size} px images with {module.in_channels} "
                          f"channel(s), but the data have {size} px and {channels} channel(s); "
                          f"configure autoencoder.net for the data or choose other data")
    if probe:
        was_training = module.training
        module.eval()  # no BatchNorm statistics updated by the probe
        try:
            _probe(module)
        finally:
            module.train(was_training)
    return module


def _accepts(target: Any, name: str) -> bool:
    try:
        params = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature: pass nothing extra
        return False
    return any(p.name == name or p.kind is p.VAR_KEYWORD for p in params)


def build_first_stage(net_cfg: DictConfig, channels: int, size: int) -> tuple[nn.Module, dict[str, Any]]:
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
    build = {**plain(net_cfg), **{k: v for k, v in (("in_channels", channels), ("size", size)) if _accepts(target, k)}}
    try:
        return build_module(build), build
    except TypeError as err:
        if "unexpected keyword argument" not in str(err):
            raise
        raise ConfigError(f"autoencoder.net._target_={net_cfg._target_}: {err}; "
                          f"every key of autoencoder.net goes to its constructor: start from autoencoder=pretrained "
                          f"(only _target_) and add arguments with +autoencoder.net.<name>=...") from None
