"""What a layer cannot see: z = Phi_l(x), v = tau_l(E(x) | z), and images D(tau_l^-1(v | z))."""
from __future__ import annotations

from typing import Any

import torch

from ..features import Representation
from ..targets import LABEL
from . import checks
from .edit import Edit
from .networks import Networks


class InvarianceMethods(Networks):
    """Sampling, reconstructing and mixing through the invariance cINN of one layer (or `@image`, `@label`)."""

    def _labels(self, method: str, x: torch.Tensor, layer: str, labels: Any) -> torch.Tensor | None:
        """Labels for `@label`: the given ones (checked), else the classifier's predictions; None elsewhere."""
        if layer != LABEL:
            return None
        if labels is None:
            return self._logits(x).argmax(1)
        return checks.labels(method, labels, len(x), self.num_classes, self.device)

    def _representation(self, x: torch.Tensor, layer: str, labels: torch.Tensor | None) -> torch.Tensor:
        return Representation(self.classifier, layer, self.num_classes)(x, labels)

    def _invariances(self, x: torch.Tensor, layer: str, labels: torch.Tensor | None) -> torch.Tensor:
        z = self._representation(x, layer, labels)
        return self.cinn(layer)(self.autoencoder.encode(x).mean, c=[z], jac=False)[0]

    @torch.no_grad()
    def representation(self, x: Any, layer: str, labels: Any = None) -> torch.Tensor:
        """z = Phi_l(x): (B, C', H', W') or (B, D) for a model layer, x for `@image`, one-hot (B, K) for `@label`."""
        x = self._images("representation", x)
        return self._representation(x, layer, self._labels("representation", x, layer, labels))

    @torch.no_grad()
    def invariances(self, x: Any, layer: str, labels: Any = None) -> torch.Tensor:
        """v = tau_l(E(x) | Phi_l(x)) (B, z_dim), from the posterior mean of E(x)."""
        self.cinn(layer)
        x = self._images("invariances", x)
        return self._invariances(x, layer, self._labels("invariances", x, layer, labels))

    @torch.no_grad()
    def decode(self, z: torch.Tensor, layer: str, v: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """D(tau_l^-1(v | z)) (B, C, H, W): the image of representation z (B, ...) with invariances v (B, z_dim),
        drawn from N(0, I) with `generator` when None."""
        return self.autoencoder.decode(self.cinn(layer).sample(z, v, generator=generator))

    @torch.no_grad()
    def sample_invariances(self, x: Any, layer: str, n: int = 8, labels: Any = None, seed: int = 0) -> Edit:
        """n images per input that `layer` cannot tell apart from it: Edit with images (B, n, C, H, W) and the
        model's logits on them (B, n, K). `labels` (B,) are for `@label` (default: the model's predictions)."""
        m = "sample_invariances"
        cinn, n = self.cinn(layer), checks.count(m, "n", n)
        x = self._images(m, x)
        z = self._representation(x, layer, self._labels(m, x, layer, labels))
        gen = torch.Generator().manual_seed(seed)  # drawn on the CPU: the same samples on every device
        v = torch.randn(len(x) * n, cinn.z_dim, generator=gen).to(self.device)
        images = self.decode(z.repeat_interleave(n, dim=0), layer, v)  # z (B, ...) -> (B*n, ...)
        return Edit(images, self._logits(images), (len(x), n))

    @torch.no_grad()
    def reconstruct(self, x: Any, layer: str, labels: Any = None) -> Edit:
        """D(tau_l^-1(tau_l(E(x) | z) | z)), the round trip through the layer's cINN: images (B, C, H, W)."""
        self.cinn(layer)
        x = self._images("reconstruct", x)
        labels = self._labels("reconstruct", x, layer, labels)
        images = self.decode(self._representation(x, layer, labels), layer, self._invariances(x, layer, labels))
        return Edit(images, self._logits(images), (len(x),))

    @torch.no_grad()
    def mix(self, x_repr: Any, x_inv: Any, layer: str) -> Edit:
        """The representation of x_repr (B, C, H, W) with the invariances of x_inv (B, C, H, W), paired one to
        one: images (B, C, H, W) and the model's logits on them (B, K)."""
        self.cinn(layer)
        x_repr, x_inv = self._images("mix", x_repr, "x_repr"), self._images("mix", x_inv, "x_inv")
        checks.paired("mix", x_repr, x_inv, "x_repr", "x_inv")
        z = self._representation(x_repr, layer, self._labels("mix", x_repr, layer, None))
        v = self._invariances(x_inv, layer, self._labels("mix", x_inv, layer, None))
        images = self.decode(z, layer, v)
        return Edit(images, self._logits(images), (len(x_repr),))
