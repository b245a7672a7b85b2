"""The trained networks of a run on one device, the run's data as examples, and the model's logits."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, TypeVar

import torch
from torch import nn

from ..backbones import UnknownLayerError
from ..errors import APIError
from ..inference import fast
from ..run import Run
from ..targets import invariance_stage
from . import checks

SPLITS = ("train", "test")
Self = TypeVar("Self", bound="Networks")


class Networks:
    """Classifier f, autoencoder (E, D), cINNs tau_l and DisentanglingINNs T, loaded on first use onto `device`."""

    def __init__(self, run: Run, device: torch.device | str = "cpu"):
        self.run = run
        self.cfg = run.config
        self.num_classes = int(self.cfg.data.num_classes)
        self.device = checks.device("Interpreter", device)
        self._nets: dict[str, nn.Module] = {}
        self._datasets: dict[str, Any] = {}

    @classmethod
    def load(cls: type[Self], run_dir: str | Path, device: torch.device | str = "cpu") -> Self:
        """The Interpreter of a trained run directory; every network goes to `device` when first used."""
        root = Path(run_dir).expanduser()
        if not (root / "config.yaml").is_file():
            raise APIError(f"Interpreter.load: {root} is not a run directory (no config.yaml); "
                           f"train one first: iin-train experiment=<name> run_dir={root}")
        return cls(Run(root), device)

    def to(self: Self, device: torch.device | str) -> Self:
        """Move every network (loaded now or later) to `device`; inputs follow, outputs come back there."""
        self.device = checks.device("to", device)
        for net in self._nets.values():
            net.to(self.device)
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.run.root)!r}, device={str(self.device)!r})"

    def _net(self, key: str, load: Callable[[], nn.Module]) -> nn.Module:
        if key not in self._nets:
            self._nets[key] = load().to(self.device)
        return self._nets[key]

    @property
    def classifier(self) -> nn.Module:
        """The model under study, f (eval mode)."""
        return self._net("classifier", self.run.classifier)

    @property
    def autoencoder(self) -> nn.Module:
        """The first stage: `encode(x)` -> posterior over zbar (B, z_dim), `decode(zbar)` -> (B, C, H, W)."""
        return self._net("autoencoder", self.run.autoencoder)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the images this run was trained on."""
        ae = self.autoencoder
        return ae.in_channels, ae.size, ae.size

    @property
    def layers(self) -> list[str]:
        """Layers whose invariance cINN is trained in this run."""
        return [l for l in self.cfg.get("invariance", {}).get("layers", []) if self.run.has(invariance_stage(l))]

    def cinn(self, layer: str) -> nn.Module:
        """tau_l, the invariance cINN of `layer`."""
        if layer not in self.layers:
            raise UnknownLayerError(f"no invariance cINN for layer {layer!r} in {self.run.root}; trained layers: {self.layers}")
        return self._net(invariance_stage(layer), lambda: self.run.load_module(invariance_stage(layer)))

    def _images(self, method: str, x: Any, name: str = "x") -> torch.Tensor:
        return checks.images(method, name, x, self.image_shape, self.device)

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The model's logits f(x) (B, K) for images x (B, C, H, W)."""
        return self._logits(self._images("logits", x))

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return fast(self.classifier, x)(x)  # a frozen fast copy of the classifier

    def examples(self, n: int = 8, split: str = "test", seed: int = 0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """n images of the run's data, a seeded random draw without repeats (not sorted by class).

        Returns images (n, C, H, W) in [0, 1] and {factor: (n,) int64}: every scalar entry of the dataset's
        items (`label` and the ground-truth factors, e.g. `digit`, `color`), all on the interpreter's device.
        """
        n = checks.count("examples", "n", n)
        ds = self._dataset(checks.one_of("examples", "split", split, SPLITS, "the splits"))
        if n > len(ds):
            raise APIError(f"examples: n={n} but the {split} split has {len(ds)} images")
        idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed))[:n]
        items = [ds[int(i)] for i in idx]  # item by item: the dataset may decode images lazily
        scalar = [k for k, v in items[0].items() if k not in ("image", "index") and _is_scalar(v)]
        factors = {k: torch.stack([torch.as_tensor(it[k]) for it in items]).long().to(self.device) for k in scalar}
        return torch.stack([torch.as_tensor(it["image"]) for it in items]).float().to(self.device), factors

    def _dataset(self, split: str):
        if split not in self._datasets:
            from ..data import dataset_from_config

            self._datasets[split] = dataset_from_config(self.cfg.data, split)
        return self._datasets[split]


def _is_scalar(value: Any) -> bool:
    """An integer factor value: a Python int or a 0-dim integer tensor (not a mask, path or float)."""
    if isinstance(value, torch.Tensor):
        return value.ndim == 0 and not value.is_floating_point()
    return isinstance(value, int)
