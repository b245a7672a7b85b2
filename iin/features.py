"""Representations z = Phi_l(x) and the feature cache that lets INN training skip the frozen networks.

Besides model layers, two calibration representations bracket every layer: `@image` (the image
itself: nothing is invariant) and `@label` (the one-hot label: everything but the label is invariant).

The cache holds, per split, the autoencoder posterior (`mean`, `logvar`) and Phi_l(x) of every requested layer in
memory-mapped shards (iin.cache), written in one streaming pass over the data. Cost: extraction time grows
linearly with the number of images, disk with images x feature size; memory stays at one batch.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from . import __version__
from .backbones import FeatureExtractor
from .cache import ShardedArray, ShardWriter, is_complete, storage_error
from .data.access import iter_batches
from .errors import ConfigError
from .targets import CALIBRATION, IMAGE, LABEL

log = logging.getLogger("iin")
POSTERIOR = ("mean", "logvar")


class Representation(nn.Module):
    """x (and labels, for `@label`) -> z = Phi_l(x) for one or more layers; frozen."""

    def __init__(self, model: nn.Module, layer: str | list[str], num_classes: int):
        super().__init__()
        self.layers = [layer] if isinstance(layer, str) else list(layer)
        self.layer, self.num_classes = self.layers[0], num_classes
        tapped = [l for l in self.layers if l not in CALIBRATION]
        self.extractor = FeatureExtractor(model, tapped) if tapped else None

    def all(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """{layer: Phi_l(x)} for every layer, with one forward of the model."""
        out = self.extractor(x) if self.extractor is not None else {}
        if IMAGE in self.layers:
            out[IMAGE] = x
        if LABEL in self.layers:
            if labels is None:
                raise ValueError("the @label representation needs labels")
            out[LABEL] = F.one_hot(labels, self.num_classes).float()
        return {l: out[l] for l in self.layers}

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.all(x, labels)[self.layer]


def check_finite(z: torch.Tensor, what: str) -> torch.Tensor:
    bad = ~torch.isfinite(z.flatten(1)).all(1)
    if bad.any():
        raise ValueError(f"{what} contain NaN or inf for {int(bad.sum())} image(s) "
                         f"(first indices {bad.nonzero()[:5, 0].tolist()}); check the inputs and the model")
    return z


def file_digest(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


@torch.no_grad()
def compute(model: nn.Module, autoencoder: nn.Module, layers: list[str], x: torch.Tensor, labels: torch.Tensor,
            num_classes: int) -> dict[str, torch.Tensor]:
    """Posterior (mean, logvar) and Phi_l(x) of every layer for one batch, without grad."""
    posterior = autoencoder.eval().encode(x)
    feats = Representation(model, layers, num_classes).all(x, labels) if layers else {}
    out = {"mean": posterior.mean, "logvar": posterior.logvar, **feats}
    return {k: check_finite(v, f"features of {k!r}") for k, v in out.items()}


def cache_root(run, options: Any = None) -> Path:
    """Where a run's feature cache lives: `cache.dir`, else `<run>/features`."""
    return Path((options or {}).get("dir") or run.root / "features")


def drop_cache(run, options: Any = None) -> None:
    """Delete the cache (cache.keep=false): it is rebuilt when a stage needs it again."""
    import shutil

    shutil.rmtree(cache_root(run, options), ignore_errors=True)
    log.info("feature cache: removed %s (cache.keep=false)", cache_root(run, options))


class FeatureCache:
    """Per split and key, `<cache.dir or run/features>/<split>/<key>/`; rebuilt when the fingerprint changes.

    The fingerprint covers the classifier and autoencoder checkpoints, the data config, the dtype and the iin
    version, so a retrained backbone or autoencoder, other data or another iin never reuses stale features.
    """

    def __init__(self, run, data_cfg: Any, num_classes: int, options: Any = None):
        self.run, self.data_cfg, self.num_classes = run, data_cfg, num_classes
        opts = dict(options or {})
        self.root = cache_root(run, opts)
        self.dtype = str(opts.get("dtype", "float32"))
        self.max_gb = float(opts.get("max_gb", 20))
        self.shard_bytes = int(float(opts.get("shard_mb", 64)) * 2**20)
        self.batch_size = int(opts.get("batch_size", 256))
        if self.dtype not in ("float32", "float16"):
            raise ConfigError(f"cache.dtype must be float32 or float16, got {self.dtype!r}")
        data = json.dumps(data_cfg if isinstance(data_cfg, dict) else _plain(data_cfg), sort_keys=True, default=str)
        parts = [file_digest(run.checkpoint(s)) for s in ("classifier", "autoencoder")] + [data, self.dtype, __version__]
        self.fingerprint = hashlib.sha1("|".join(parts).encode()).hexdigest()

    def path(self, split: str, key: str) -> Path:
        return self.root / split / key


    def get(self, split: str, layers: list[str], dataset) -> dict[str, ShardedArray]:
        """{'mean', 'logvar', <layer>...} stores for every image of `dataset` (the `split` of the run's data)."""
        keys = [*POSTERIOR, *layers]
        todo = [k for k in keys if not is_complete(self.path(split, k), self.fingerprint)]
        if todo:
            from filelock import FileLock

            (self.root / split).mkdir(parents=True, exist_ok=True)
            with FileLock(str(self.root / split / ".lock")):  # DDP ranks and workers: one extracts, the rest wait
                todo = [k for k in keys if not is_complete(self.path(split, k), self.fingerprint)]
                if todo:
                    self._extract(split, todo, dataset)
        return {k: ShardedArray(self.path(split, k)) for k in keys}

    def _extract(self, split: str, keys: list[str], dataset) -> None:
        model, autoencoder = self.run.classifier(), self.run.autoencoder()
        layers = [k for k in keys if k not in POSTERIOR]
        probe = next(iter_batches(dataset, 2))
        shapes = {k: tuple(v.shape[1:]) for k, v in compute(model, autoencoder, layers, probe["image"],
                                                             probe["label"], self.num_classes).items()}
        n, itemsize = len(dataset), 2 if self.dtype == "float16" else 4
        gb = n * sum(int(torch.tensor(shapes[k]).prod()) for k in keys) * itemsize / 1e9
        log.info("feature cache: %s %s of %d images will take %.2f GB (%s) in %s", split, keys, n, gb, self.dtype,
                 self.root / split)
        if gb > self.max_gb:
            raise ConfigError(f"the feature cache of split {split} would take {gb:.1f} GB, above cache.max_gb="
                              f"{self.max_gb:g}; use invariance.mode=recompute (no cache), cache.dtype=float16 "
                              f"(half the size), fewer layers, or raise cache.max_gb")
        try:
            writers = {k: ShardWriter(self.path(split, k), n, shapes[k], self.dtype, self.shard_bytes, self.fingerprint)
                       for k in keys}
            self._stream(dataset, model, autoencoder, layers, writers)
        except OSError as err:
            raise storage_error(self.root / split, err) from None

    @torch.no_grad()
    def _stream(self, dataset, model, autoencoder, layers: list[str], writers: dict[str, ShardWriter]) -> None:
        start = min(w.done for w in writers.values())
        workers = int(self.data_cfg.get("num_workers", 0) or 0)
        n, seen, began = len(dataset), 0, time.perf_counter()
        from tqdm import tqdm

        with tqdm(total=n - start, unit="img", desc="feature cache", mininterval=2, disable=None) as bar:
            for batch in iter_batches(dataset, self.batch_size, range(start, n), workers):
                feats = compute(model, autoencoder, layers, batch["image"], batch["label"], self.num_classes)
                for k, w in writers.items():
                    w.write(start + seen, feats[k])
                seen += len(batch["image"])
                bar.update(len(batch["image"]))
        seconds = time.perf_counter() - began
        log.info("feature cache: %d images in %.1f s (%.0f images/s)", seen, seconds, seen / max(seconds, 1e-9))


def _plain(cfg: Any) -> Any:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(cfg, resolve=True)


def moments(chunks: Iterable[torch.Tensor], stat_shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and (unbiased) std of rows arriving in chunks (k, *shape), reduced over every axis where `stat_shape`
    has size 1 (e.g. (C, 1, 1): per-channel statistics of (C, H, W) rows); one pass, float64 sums."""
    total = total_sq = None
    count = 0
    for z in chunks:
        z = z.double()
        dims = [0] + [i + 1 for i, (a, b) in enumerate(zip(stat_shape, z.shape[1:])) if a == 1 and b != 1]
        s, sq = z.sum(dims, keepdim=True)[0], (z * z).sum(dims, keepdim=True)[0]
        total, total_sq = (s, sq) if total is None else (total + s, total_sq + sq)
        count += z.numel() // s.numel()
    mean = total / count
    var = (total_sq - count * mean * mean) / max(count - 1, 1)
    return mean.float().reshape(stat_shape), var.clamp_min(0).sqrt().float().reshape(stat_shape)


@torch.no_grad()
def streamed(representation: Representation, dataset, batch_size: int = 256, num_workers: int = 0):
    """Phi_l(x) of the whole split, batch by batch (statistics without a cache)."""
    for batch in iter_batches(dataset, batch_size, num_workers=num_workers):
        yield representation(batch["image"], batch["label"])
