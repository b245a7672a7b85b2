"""Representations z = Phi_l(x) and the feature cache that lets INN training skip the frozen networks.

Besides model layers, two calibration representations bracket every layer: `@image` (the image
itself: nothing is invariant) and `@label` (the one-hot label: everything but the label is invariant).
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .backbones import FeatureExtractor
from .checkpoint import load_state, save_checkpoint

log = logging.getLogger("iin")
CALIBRATION = ("@image", "@label")


class Representation(nn.Module):
    """x (and labels, for `@label`) -> z = Phi_l(x); frozen."""

    def __init__(self, model: nn.Module, layer: str, num_classes: int):
        super().__init__()
        self.layer, self.num_classes = layer, num_classes
        self.extractor = None if layer in CALIBRATION else FeatureExtractor(model, [layer])

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.layer == "@image":
            return x
        if self.layer == "@label":
            if labels is None:
                raise ValueError("the @label representation needs labels")
            return F.one_hot(labels, self.num_classes).float()
        return self.extractor(x)[self.layer]


def check_finite(z: torch.Tensor, what: str) -> torch.Tensor:
    bad = ~torch.isfinite(z.flatten(1)).all(1)
    if bad.any():
        raise ValueError(f"{what} contain NaN or inf for {int(bad.sum())} image(s) "
                         f"(first indices {bad.nonzero()[:5, 0].tolist()}); check the inputs and the model")
    return z


def file_digest(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


@torch.no_grad()
def compute(model: nn.Module, autoencoder: nn.Module, layers: list[str], images: torch.Tensor,
            labels: torch.Tensor, num_classes: int, batch_size: int = 500) -> dict[str, torch.Tensor]:
    """Posterior (mean, logvar) of every image and Phi_l(x) for every layer, in batches without grad."""
    reps = {layer: Representation(model, layer, num_classes) for layer in layers}
    out: dict[str, list[torch.Tensor]] = {k: [] for k in ["mean", "logvar", *layers]}
    autoencoder.eval()
    for x, y in zip(images.split(batch_size), labels.split(batch_size)):
        posterior = autoencoder.encode(x)
        out["mean"].append(posterior.mean)
        out["logvar"].append(posterior.logvar)
        for layer, rep in reps.items():
            out[layer].append(rep(x, y))
    return {k: check_finite(torch.cat(v), f"features of {k!r}") for k, v in out.items()}


class FeatureCache:
    """Per split and layer, `<run>/features/<split>/<layer>.pt`; rebuilt when the fingerprint changes.

    The fingerprint covers the classifier and autoencoder checkpoints and the data config, so a
    retrained backbone or autoencoder, or other data, never reuses stale features.
    """

    def __init__(self, run, data_cfg: Any, num_classes: int):
        self.run, self.num_classes = run, num_classes
        data = json.dumps(data_cfg if isinstance(data_cfg, dict) else dict(data_cfg), sort_keys=True, default=str)
        parts = [file_digest(run.checkpoint(s)) for s in ("classifier", "autoencoder")] + [data]
        self.fingerprint = hashlib.sha1("|".join(parts).encode()).hexdigest()

    def path(self, split: str, key: str) -> Path:
        return self.run.root / "features" / split / f"{key}.pt"

    def _cached(self, split: str, key: str) -> torch.Tensor | None:
        p = self.path(split, key)
        if not p.is_file():
            return None
        entry = load_state(p)
        return entry["tensor"] if entry.get("fingerprint") == self.fingerprint else None

    def get(self, split: str, layers: list[str], dataset) -> dict[str, torch.Tensor]:
        """{'mean', 'logvar', <layer>...} for every image of `dataset` (the `split` of the run's data)."""
        keys = ["mean", "logvar", *layers]
        found = {k: self._cached(split, k) for k in keys}
        todo = [k for k in layers if found[k] is None]
        if todo or found["mean"] is None or found["logvar"] is None:
            log.info("feature cache: computing %s for split %s", todo or ["posterior"], split)
            fresh = compute(self.run.classifier(), self.run.autoencoder(), todo, dataset.images,
                            dataset.labels, self.num_classes)
            for k, tensor in fresh.items():
                save_checkpoint(self.path(split, k), tensor=tensor.contiguous(), fingerprint=self.fingerprint)
                found[k] = tensor
        return found
