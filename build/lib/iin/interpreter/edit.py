"""What every generating method of the Interpreter returns: images and the model's logits, one shape rule."""
from __future__ import annotations

import torch

from ..errors import APIError


class Edit:
    """Images in [0, 1] and the model's logits, shaped by the method that made them.

    Methods that make one image per input (reconstruct, mix, swap, set) give images (B, C, H, W) and
    logits (B, K); methods that make n per input (sample_invariances: n, resample: n, interpolate: steps,
    walk: steps) give (B, n, C, H, W) and (B, n, K), also when n is 1. The logits are the model's answer:
    f(images), except for an edit of a model layer's code z*, where they are Psi_l(z*).

    An edit of a layer whose invariance cINN is not trained has logits but no images; reading `images`
    then raises an APIError that says so (`has_images` tells in advance).
    """

    def __init__(self, images: torch.Tensor | None, logits: torch.Tensor, lead: tuple[int, ...],
                 no_images: str = ""):
        # (B*n, ...) -> (B, n, ...) for several per input; (B, ...) stays for one per input
        self._images = None if images is None else images.reshape(*lead, *images.shape[1:])
        self.logits = logits.reshape(*lead, *logits.shape[1:])
        self._no_images = no_images

    @property
    def has_images(self) -> bool:
        return self._images is not None

    @property
    def images(self) -> torch.Tensor:
        if self._images is None:
            raise APIError(self._no_images)
        return self._images

    def __repr__(self) -> str:
        images = tuple(self._images.shape) if self._images is not None else None
        return f"Edit(images={images}, logits={tuple(self.logits.shape)})"
