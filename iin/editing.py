"""Interpreter: load a run, sample a layer's invariances, mix them, and edit semantic concepts.

Every method takes images (B, C, H, W) in [0, 1] and returns images in [0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch
from torch import nn

from .backbones import UnknownLayerError, resolve_layer
from .concepts import AUTOENCODER
from .features import Representation, check_finite
from .flows import RESIDUAL
from .inference import fast
from .run import Run


@dataclass
class Edit:
    """Edited images in [0, 1] and, for a model-layer target, the model's logits Psi_l(z*) (else on the images)."""

    images: torch.Tensor | None
    logits: torch.Tensor


def forward_from(model: nn.Module, layer: str, x: torch.Tensor, z_star: torch.Tensor) -> torch.Tensor:
    """Psi_l(z*): the model's output when layer l's output is replaced by z* (hook removed in finally)."""
    handle = resolve_layer(model, layer).register_forward_hook(lambda _m, _i, out: z_star.view_as(out))
    try:
        return model(x)
    finally:
        handle.remove()


class Interpreter:
    """The trained networks of one run: classifier f, autoencoder (E, D), one cINN tau_l per layer."""

    def __init__(self, run: Run):
        self.run = run
        self.cfg = run.config
        self.num_classes = int(self.cfg.data.num_classes)
        self._cinns: dict[str, nn.Module] = {}

    @classmethod
    def load(cls, run_dir: str | Path) -> "Interpreter":
        return cls(Run(run_dir))

    @cached_property
    def classifier(self) -> nn.Module:
        return self.run.classifier()

    @cached_property
    def autoencoder(self) -> nn.Module:
        return self.run.autoencoder()

    @property
    def layers(self) -> list[str]:
        """Layers whose invariance cINN is trained in this run."""
        return [l for l in self.cfg.get("invariance", {}).get("layers", []) if self.run.has(f"invariances/{l}")]

    def cinn(self, layer: str) -> nn.Module:
        if layer not in self._cinns:
            if layer not in self.layers:
                raise UnknownLayerError(f"no invariance cINN for layer {layer!r} in {self.run.root}; trained layers: {self.layers}")
            from .stages.invariances import build_cinn

            self._cinns[layer] = self.run.load_module(f"invariances/{layer}", build_cinn)
        return self._cinns[layer]

    def check_images(self, x: torch.Tensor) -> torch.Tensor:
        expected = (self.autoencoder.in_channels, self.autoencoder.size, self.autoencoder.size)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"expected images (B, {', '.join(map(str, expected))}) in [0, 1], got {tuple(x.shape)}")
        return check_finite(x, "input images")

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The model's logits for images x (through a frozen fast copy of the classifier)."""
        return fast(self.classifier, x)(x)

    def labels_for(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Labels for `@label`: the given ones, else the classifier's predictions."""
        return labels if labels is not None else self.logits(x).argmax(1)

    @torch.no_grad()
    def representation(self, x: torch.Tensor, layer: str, labels: torch.Tensor | None = None) -> torch.Tensor:
        """z = Phi_l(x)."""
        rep = Representation(self.classifier, layer, self.num_classes)
        return rep(self.check_images(x), self.labels_for(x, labels) if layer == "@label" else None)

    @torch.no_grad()
    def invariances(self, x: torch.Tensor, layer: str, labels: torch.Tensor | None = None) -> torch.Tensor:
        """v = tau(E(x) | Phi_l(x)), using the posterior mean of E(x)."""
        z = self.representation(x, layer, labels)
        return self.cinn(layer)(self.autoencoder.encode(x).mean, c=[z], jac=False)[0]

    @torch.no_grad()
    def decode(self, z: torch.Tensor, layer: str, v: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """D(tau^-1(v | z)): the image of representation z with invariances v (sampled when None)."""
        return self.autoencoder.decode(self.cinn(layer).sample(z, v, generator=generator))

    @torch.no_grad()
    def sample_invariances(self, x: torch.Tensor, layer: str, n: int = 8, labels: torch.Tensor | None = None,
                           seed: int = 0) -> torch.Tensor:
        """n images per input that the layer cannot tell apart from it: (B, n, C, H, W)."""
        z = self.representation(x, layer, labels)
        gen = torch.Generator(device=z.device).manual_seed(seed)
        z_rep = z.repeat_interleave(n, dim=0)  # (B, ...) -> (B*n, ...)
        images = self.decode(z_rep, layer, generator=gen)
        return images.view(len(x), n, *images.shape[1:])  # (B*n, C, H, W) -> (B, n, C, H, W)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, layer: str, labels: torch.Tensor | None = None) -> torch.Tensor:
        """D(tau^-1(tau(E(x) | z) | z)): the round trip through the layer's cINN."""
        return self.decode(self.representation(x, layer, labels), layer, self.invariances(x, layer, labels))

    @torch.no_grad()
    def mix(self, x_repr: torch.Tensor, x_inv: torch.Tensor, layer: str) -> torch.Tensor:
        """The representation of `x_repr` with the invariances of `x_inv`."""
        if len(x_repr) != len(x_inv):
            raise ValueError(f"mix needs as many representation images as invariance images, got {len(x_repr)} and {len(x_inv)}")
        return self.decode(self.representation(x_repr, layer), layer, self.invariances(x_inv, layer))

    # concepts ------------------------------------------------------------------------------------
    @property
    def targets(self) -> list[str]:
        """Targets whose DisentanglingINN is trained in this run."""
        return [t for t in self.cfg.get("concepts", {}).get("targets", []) if self.run.has(f"concepts/{t}")]

    @property
    def unsupervised_targets(self) -> list[str]:
        """`<target>@unsupervised` for every target whose pair-free IIN is trained in this run."""
        names = [f"{t}@unsupervised" for t in self.cfg.get("concepts", {}).get("unsupervised", [])]
        return [n for n in names if self.run.has(f"concepts/{n}")]

    def dinn(self, target: str) -> nn.Module:
        key = f"concepts/{target}"
        if key not in self._cinns:
            trained = self.targets + self.unsupervised_targets
            if target not in trained:
                raise ValueError(f"no concept INN for target {target!r} in {self.run.root}; trained targets: {trained}")
            from .stages.concepts import build_dinn

            self._cinns[key] = self.run.load_module(key, build_dinn)
        return self._cinns[key]

    @torch.no_grad()
    def codes(self, x: torch.Tensor, target: str) -> torch.Tensor:
        """The flat representation T works on: zbar = mean of E(x), or Phi_l(x) flattened."""
        base = target.removesuffix("@unsupervised")
        if base == AUTOENCODER:
            return self.autoencoder.encode(self.check_images(x)).mean
        return self.representation(x, base).flatten(1)  # (B, C, H, W) -> (B, C*H*W)

    @torch.no_grad()
    def factors(self, x: torch.Tensor, target: str) -> dict[str, torch.Tensor]:
        """{factor: zt_factor} of T(z)."""
        dinn = self.dinn(target)
        return dinn.split(dinn(self.codes(x, target), jac=False)[0])

    def _check_factor(self, target: str, factor: str) -> None:
        if factor not in self.dinn(target).factors:
            raise ValueError(f"target {target!r} has no factor {factor!r}; factors: {self.dinn(target).factors}")

    @torch.no_grad()
    def render(self, x: torch.Tensor, parts: dict[str, torch.Tensor], target: str) -> Edit:
        """z* = T^-1(parts); images D(z*) or D(tau^-1(v(x) | z*)), and the model's logits."""
        dinn = self.dinn(target)
        z_star = dinn(dinn.merge(parts), rev=True, jac=False)[0]
        base = target.removesuffix("@unsupervised")
        if base == AUTOENCODER:
            images = self.autoencoder.decode(z_star)
            return Edit(images, self.logits(images))
        logits = forward_from(self.classifier, base, x, z_star)
        shaped = z_star.view(len(z_star), *self.cinn(base).cond_shape) if base in self.layers else None  # T is flat
        images = self.decode(shaped, base, self.invariances(x, base)) if base in self.layers else None
        return Edit(images, logits)

    def _edited(self, x: torch.Tensor, target: str, factor: str, values: torch.Tensor,
                parts: dict[str, torch.Tensor] | None = None) -> Edit:
        """Replace `factor` of x's code (`parts`, computed when None) by values (B*n, d), n per image, and render."""
        n = len(values) // len(x)
        x_rep = x.repeat_interleave(n, 0)  # (B, ...) -> (B*n, ...)
        parts = {k: v.repeat_interleave(n, 0) for k, v in (parts or self.factors(x, target)).items()}
        parts[factor] = values
        return self.render(x_rep, parts, target)

    def swap(self, x: torch.Tensor, y: torch.Tensor, factor: str, target: str = AUTOENCODER) -> Edit:
        """x with factor `factor` transplanted from y."""
        self._check_factor(target, factor)
        return self._edited(x, target, factor, self.factors(y, target)[factor])

    def interpolate(self, x: torch.Tensor, y: torch.Tensor, factor: str, steps: int = 8,
                    target: str = AUTOENCODER) -> Edit:
        """x with factor moving linearly from x's value to y's in `steps`: images (B*steps, ...) in order."""
        self._check_factor(target, factor)
        parts = self.factors(x, target)
        a, b = parts[factor], self.factors(y, target)[factor]
        t = torch.linspace(0, 1, steps)[None, :, None]
        values = ((1 - t) * a[:, None] + t * b[:, None]).flatten(0, 1)  # (B, steps, d) -> (B*steps, d)
        return self._edited(x, target, factor, values, parts)

    def resample(self, x: torch.Tensor, factor: str, n: int = 8, target: str = AUTOENCODER, seed: int = 0,
                 pool: torch.Tensor | None = None) -> Edit:
        """n versions of each x with factor drawn afresh: images (B*n, ...) in order.

        Draws come from the prior N(0, I), or, given `pool` images, from the factor's codes of random pool
        images. Pool draws stay on the data: a factor the representation barely carries gets codes much
        narrower than N(0, I) (`code_std` in the concept metrics), and prior draws then leave the data.
        """
        self._check_factor(target, factor)
        gen = torch.Generator().manual_seed(seed)
        if pool is None:
            values = torch.randn(len(x) * n, self.dinn(target).factor_dims[factor], generator=gen)
        else:
            codes = self.factors(pool, target)[factor]
            values = codes[torch.randint(len(codes), (len(x) * n,), generator=gen)]
        return self._edited(x, target, factor, values)

    def set(self, x: torch.Tensor, factor: str, value: torch.Tensor, target: str = AUTOENCODER) -> Edit:
        """x with factor set to `value` ((d,) for all images or (B, d))."""
        self._check_factor(target, factor)
        return self._edited(x, target, factor, value.expand(len(x), -1) if value.ndim == 1 else value)

    def walk(self, x: torch.Tensor, direction: torch.Tensor, steps: int = 8, scale: float = 2.0,
             target: str = "penultimate@unsupervised") -> Edit:
        """Linear walk in the unsupervised IIN's N(0, I) space: zt + t * direction, t in [-scale, scale]."""
        t = torch.linspace(-scale, scale, steps)[None, :, None]
        parts = self.factors(x, target)
        values = (parts[RESIDUAL][:, None] + t * direction[None, None]).flatten(0, 1)  # (B, steps, D) -> (B*steps, D)
        return self._edited(x, target, RESIDUAL, values, parts)
