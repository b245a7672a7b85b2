"""Concept edits: T maps a target's code to named factors; change one, invert, and read images and logits.

A target is `@autoencoder` (the image code zbar: the edit is decoded by D, and the logits are f(D(z*))) or a
model layer l (the edit z* goes through the rest of the model, Psi_l(z*), and is drawn as D(tau_l^-1(v(x) | z*))
with x's own invariances v(x), when the layer's invariance cINN is trained).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..backbones import forward_from
from ..errors import APIError
from ..flows import RESIDUAL
from ..targets import AUTOENCODER, UNSUPERVISED, Target, concept_stage
from . import checks
from .edit import Edit
from .invariances import InvarianceMethods


class ConceptMethods(InvarianceMethods):
    """Factors of a target, and swap / interpolate / resample / set / walk on one factor."""

    @property
    def targets(self) -> list[str]:
        """Targets whose DisentanglingINN is trained in this run."""
        return [t for t in self.cfg.get("concepts", {}).get("targets", []) if self.run.has(concept_stage(t))]

    @property
    def unsupervised_targets(self) -> list[str]:
        """`<target>@unsupervised` for every target whose pair-free IIN is trained in this run."""
        names = [f"{t}{UNSUPERVISED}" for t in self.cfg.get("concepts", {}).get("unsupervised", [])]
        return [n for n in names if self.run.has(concept_stage(n))]

    def dinn(self, target: str) -> nn.Module:
        """T of `target`: `factors` lists its factor names, `factor_dims` their sizes."""
        trained = self.targets + self.unsupervised_targets
        if target not in trained:
            raise APIError(f"no concept INN for target {target!r} in {self.run.root}; trained targets: {trained}")
        return self._net(concept_stage(target), lambda: self.run.load_module(concept_stage(target)))

    def _factor(self, method: str, target: str, factor: str) -> int:
        """Check the factor exists for the target; its code size d."""
        dinn = self.dinn(target)
        if factor not in dinn.factors:
            raise APIError(f"{method}: target {target!r} has no factor {factor!r}; factors: {dinn.factors}")
        return dinn.factor_dims[factor]

    def _codes(self, x: torch.Tensor, target: str) -> torch.Tensor:
        base = Target.parse(target).base
        if base == AUTOENCODER:
            return self.autoencoder.encode(x).mean
        return self._representation(x, base, None).flatten(1)  # (B, C, H, W) -> (B, C*H*W)

    def _factors(self, x: torch.Tensor, target: str) -> dict[str, torch.Tensor]:
        dinn = self.dinn(target)
        return dinn.split(dinn(self._codes(x, target), jac=False)[0])

    @torch.no_grad()
    def codes(self, x: Any, target: str) -> torch.Tensor:
        """The flat code T works on (B, D): zbar = mean of E(x), or Phi_l(x) flattened."""
        self.dinn(target)
        return self._codes(self._images("codes", x), target)

    @torch.no_grad()
    def factors(self, x: Any, target: str) -> dict[str, torch.Tensor]:
        """{factor: zt_factor (B, d_factor)} of T(z) for images x (B, C, H, W)."""
        self.dinn(target)
        return self._factors(self._images("factors", x), target)

    @torch.no_grad()
    def value_of(self, images: Any, factor: str, target: str = AUTOENCODER) -> torch.Tensor:
        """The mean code (d,) of `factor` over images (N, C, H, W): one donor's value, or a class's when the
        images are examples of that class (e.g. every red digit of `examples`)."""
        self._factor("value_of", target, factor)
        return self._factors(self._images("value_of", images, "images"), target)[factor].mean(0)

    def _render(self, method: str, x: torch.Tensor, parts: dict[str, torch.Tensor], target: str,
                lead: tuple[int, ...]) -> Edit:
        """z* = T^-1(parts) for x (B*n, ...); images and logits shaped (B, n, ...) or (B, ...) by `lead`."""
        dinn = self.dinn(target)
        z_star = dinn(dinn.merge(parts), rev=True, jac=False)[0]
        base = Target.parse(target).base
        if base == AUTOENCODER:
            images = self.autoencoder.decode(z_star)
            return Edit(images, self._logits(images), lead)
        logits = forward_from(self.classifier, base, x, z_star)
        if base not in self.layers:
            why = (f"{method}: target {target!r} edits layer {base!r}, which has no trained invariance cINN to draw "
                   f"it, so this edit has logits but no images; train it (invariance.layers) or use '{AUTOENCODER}'")
            return Edit(None, logits, lead, no_images=why)
        shaped = z_star.view(len(z_star), *self.cinn(base).cond_shape)  # T works on flat codes: (B, D) -> layer shape
        return Edit(self.decode(shaped, base, self._invariances(x, base, None)), logits, lead)

    def _edited(self, method: str, x: torch.Tensor, target: str, factor: str, values: torch.Tensor,
                n: int | None = None, parts: dict[str, torch.Tensor] | None = None) -> Edit:
        """x (B, ...) with `factor` replaced by values (B*n, d), n per image (None: one per image)."""
        k = n or 1
        x_rep = x.repeat_interleave(k, 0)  # (B, ...) -> (B*n, ...)
        parts = {f: z.repeat_interleave(k, 0) for f, z in (parts or self._factors(x, target)).items()}
        parts[factor] = values
        return self._render(method, x_rep, parts, target, (len(x),) if n is None else (len(x), n))

    @torch.no_grad()
    def swap(self, x: Any, y: Any, factor: str, target: str = AUTOENCODER) -> Edit:
        """x (B, C, H, W) with `factor` transplanted from y (B, C, H, W), paired one to one: images (B, C, H, W)."""
        self._factor("swap", target, factor)
        x, y = self._images("swap", x), self._images("swap", y, "y")
        checks.paired("swap", x, y)
        return self._edited("swap", x, target, factor, self._factors(y, target)[factor])

    @torch.no_grad()
    def interpolate(self, x: Any, y: Any, factor: str, steps: int = 8, target: str = AUTOENCODER) -> Edit:
        """x with `factor` moving linearly from x's value to that of y (paired one to one) in `steps`:
        images (B, steps, C, H, W), the first with x's own value, the last with y's."""
        self._factor("interpolate", target, factor)
        steps = checks.count("interpolate", "steps", steps)
        x, y = self._images("interpolate", x), self._images("interpolate", y, "y")
        checks.paired("interpolate", x, y)
        parts = self._factors(x, target)
        a, b = parts[factor], self._factors(y, target)[factor]
        t = torch.linspace(0, 1, steps, device=self.device)[None, :, None]
        values = ((1 - t) * a[:, None] + t * b[:, None]).flatten(0, 1)  # (B, steps, d) -> (B*steps, d)
        return self._edited("interpolate", x, target, factor, values, steps, parts)

    @torch.no_grad()
    def resample(self, x: Any, factor: str, n: int = 8, target: str = AUTOENCODER, seed: int = 0,
                 pool: Any = None) -> Edit:
        """n versions of each x with `factor` drawn afresh: images (B, n, C, H, W).

        Draws come from the prior N(0, I), or, given `pool` images (N, C, H, W), from the factor's codes of
        random pool images. Pool draws stay on the data: a factor the representation barely carries gets
        codes much narrower than N(0, I) (`code_std` in the concept metrics), and prior draws then leave it.
        """
        d = self._factor("resample", target, factor)
        n = checks.count("resample", "n", n)
        x = self._images("resample", x)
        gen = torch.Generator().manual_seed(seed)  # drawn on the CPU: the same edits on every device
        if pool is None:
            values = torch.randn(len(x) * n, d, generator=gen).to(self.device)
        else:
            codes = self._factors(self._images("resample", pool, "pool"), target)[factor]
            values = codes[torch.randint(len(codes), (len(x) * n,), generator=gen).to(codes.device)]
        return self._edited("resample", x, target, factor, values, n)

    @torch.no_grad()
    def set(self, x: Any, factor: str, value: Any = None, target: str = AUTOENCODER, donor: Any = None) -> Edit:
        """x (B, C, H, W) with `factor` set to one value: images (B, C, H, W).

        Give either `value`, a code (d,) for every image or (B, d) one per image, or `donor` images
        (N, C, H, W), whose mean code of the factor is used (`value_of`): one image, or examples of a class.
        """
        d = self._factor("set", target, factor)
        if (value is None) == (donor is None):
            raise APIError("set: give exactly one of value (a code) and donor (images whose code to use)")
        x = self._images("set", x)
        if donor is not None:
            value = self._factors(self._images("set", donor, "donor"), target)[factor].mean(0)
        values = checks.vector("set", f"the value of factor {factor!r} (size {d})", value, d, len(x), self.device)
        return self._edited("set", x, target, factor, values)

    @torch.no_grad()
    def walk(self, x: Any, direction: Any, steps: int = 8, scale: float = 2.0,
             target: str = f"penultimate{UNSUPERVISED}") -> Edit:
        """A linear walk in the N(0, I) space of the target's residual: zt + t * direction, t in [-scale, scale],
        direction (D,) or (B, D): images (B, steps, C, H, W)."""
        d = self._factor("walk", target, RESIDUAL)
        steps = checks.count("walk", "steps", steps)
        x = self._images("walk", x)
        direction = checks.vector("walk", f"direction (the {RESIDUAL} of {target!r}, size {d})", direction, d,
                                  len(x), self.device)
        t = torch.linspace(-scale, scale, steps, device=self.device)[None, :, None]
        parts = self._factors(x, target)
        values = (parts[RESIDUAL][:, None] + t * direction[:, None]).flatten(0, 1)  # (B, steps, D) -> (B*steps, D)
        return self._edited("walk", x, target, RESIDUAL, values, steps, parts)
