"""The representations INNs are trained on, named in one place.

An invariance cINN is conditioned on, and a concept INN disentangles, one of
- a model layer, by the name the layer tap resolves (`block2`, `layer4`, `encoder.layers.1#cls`);
- `@image`: the image itself, a calibration (nothing is invariant to it);
- `@label`: the one-hot label, a calibration (everything but the label is invariant to it);
- `@autoencoder`: the first stage's latent zbar (a concept target).
A concept target with the suffix `@unsupervised` names its pair-free IIN. Users write these as strings; code
asks `Target` what a string means instead of comparing literals.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

IMAGE, LABEL, AUTOENCODER = "@image", "@label", "@autoencoder"
CALIBRATION = (IMAGE, LABEL)
UNSUPERVISED = "@unsupervised"


@dataclass(frozen=True)
class Target:
    """A representation by name (`base`), and whether it is a concept target's pair-free IIN."""

    base: str
    unsupervised: bool = False

    @classmethod
    def parse(cls, name: str) -> Target:
        """`penultimate@unsupervised` -> Target("penultimate", unsupervised=True)."""
        return cls(name.removesuffix(UNSUPERVISED), name.endswith(UNSUPERVISED))

    @property
    def is_layer(self) -> bool:
        """A layer of the model under study (not @image, @label or @autoencoder)."""
        return not self.base.startswith("@")

    @property
    def upstream(self) -> list[str]:
        """The trained stages its features come from: the autoencoder, and the classifier for a layer."""
        return ["autoencoder"] + (["classifier"] if self.is_layer else [])

    def __str__(self) -> str:
        return self.base + (UNSUPERVISED if self.unsupervised else "")


def is_layer(name: str) -> bool:
    return Target.parse(name).is_layer


def invariance_stage(layer: str) -> str:
    """The run's stage (and checkpoint) name of a layer's invariance cINN."""
    return f"invariances/{layer}"


def concept_stage(target: str, unsupervised: bool = False) -> str:
    """The run's stage (and checkpoint) name of a target's concept INN (or its pair-free IIN)."""
    return f"concepts/{Target(target, unsupervised)}"


def stage_target(stage: str) -> Target:
    """`invariances/block2` -> Target("block2"); `concepts/penultimate@unsupervised` -> its pair-free target."""
    return Target.parse(stage.split("/", 1)[1])


def profile_order(names: Iterable[str]) -> list[str]:
    """@image first, the model's layers in the given order, @label last: the order of a layer profile."""
    names = list(names)
    return ([n for n in names if n == IMAGE] + [n for n in names if is_layer(n)]
            + [n for n in names if not is_layer(n) and n != IMAGE])
