"""Interpreter: load a run, sample a layer's invariances, mix them, and edit semantic concepts.

Every method takes images (B, C, H, W) in [0, 1] and returns images in [0, 1].
"""
from __future__ import annotations

from functools import cached_property
from pathlib import Path

import torch
from torch import nn

from .features import CALIBRATION, Representation, check_finite
from .run import Run


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
                raise KeyError(f"no invariance cINN for layer {layer!r} in {self.run.root}; trained layers: {self.layers}")
            from .stages.invariances import build_cinn

            self._cinns[layer] = self.run.load_module(f"invariances/{layer}", build_cinn)
        return self._cinns[layer]

    def check_images(self, x: torch.Tensor) -> torch.Tensor:
        expected = (self.autoencoder.in_channels, self.autoencoder.size, self.autoencoder.size)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"expected images (B, {', '.join(map(str, expected))}) in [0, 1], got {tuple(x.shape)}")
        return check_finite(x, "input images")

    def labels_for(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Labels for `@label`: the given ones, else the classifier's predictions."""
        return labels if labels is not None else self.classifier(x).argmax(1)

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
