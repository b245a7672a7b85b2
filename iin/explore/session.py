"""One loaded run for the explorer: the Interpreter (networks cached), the test images, what each mode needs.

Every browser tab shares this object. The handlers' hooks (FGSM gradients, Grad-CAM, `forward_from`) are
registered on the shared classifier, so calls are serialised with one lock: two tabs at once stay correct.
"""
from __future__ import annotations

import atexit
import inspect
import shutil
import tempfile
import threading
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from omegaconf import OmegaConf

from ..attribution import METHODS, Attribution
from ..cli import CONFIG_DIR
from ..data import dataset_from_config
from ..editing import Interpreter
from ..errors import CheckpointError
from .images import load_upload, picture, picture_file

MODES = ("invariances", "layer profile", "mixing", "adversarial", "concepts", "attribution")


def load_settings(path: Path = CONFIG_DIR / "explore.yaml") -> dict:
    return OmegaConf.to_container(OmegaConf.load(path), resolve=True)


class Explorer:
    """The run behind the app: `missing(mode)` says why a mode is off, `call(fn, ...)` runs a handler."""

    def __init__(self, run_dir: str | Path, settings: dict | None = None):
        self.run_dir = Path(run_dir)
        self.interp = Interpreter.load(run_dir)
        self.cfg = self.interp.cfg  # reads config.yaml: a directory that is not a run fails here
        self.settings = settings or load_settings()
        self.lock = threading.Lock()
        self._methods: dict[str, Attribution] = {}
        self._codes: dict[tuple[str, str], torch.Tensor] = {}
        self.files = Path(tempfile.mkdtemp(prefix="iin-explore-"))  # pictures handed to the page
        atexit.register(shutil.rmtree, self.files, ignore_errors=True)

    # what the run has ------------------------------------------------------------------------------
    def train_command(self, stages: str) -> str:
        experiment = self.cfg.get("experiment_name", "<name>")
        return f"iin-train experiment={experiment} run_dir={self.run_dir} stages=[{stages}]"

    def missing(self, mode: str) -> str | None:
        """None when the mode can run on this run, else what is missing and the command that trains it."""
        has = self.interp.run.has
        needs = ("classifier",) if mode == "attribution" else ("classifier", "autoencoder")
        absent = [s for s in needs if not has(s)]
        if absent:
            return f"needs the {' and '.join(absent)}: {self.train_command(','.join(absent))}"
        if mode == "concepts" and not self.concept_targets:
            return f"needs a concept INN: {self.train_command('concepts')}"
        if mode not in ("concepts", "attribution") and not self.interp.layers:
            return f"needs an invariance cINN: {self.train_command('invariances')}"
        return None

    @property
    def layers(self) -> list[str]:
        from .handlers import order_layers

        return order_layers(self.interp.layers)

    @property
    def concept_targets(self) -> list[str]:
        return self.interp.targets + self.interp.unsupervised_targets

    def factors(self, target: str) -> list[str]:
        return list(self.interp.dinn(target).factors)

    # images ----------------------------------------------------------------------------------------
    @cached_property
    def test(self):
        return dataset_from_config(self.cfg.data, "test")

    @property
    def shape(self) -> tuple[int, int]:
        """(channels, size) of the run's images."""
        x = self.image(0)
        return x.shape[1], x.shape[-1]

    def image(self, index: int) -> torch.Tensor:
        """Test image `index` as (1, C, H, W)."""
        return self.test[int(index)]["image"][None].float()

    def gallery(self, seed: int) -> tuple[list[int], list]:
        """A seeded shuffle of the test split: the first `gallery` indices and their pictures."""
        order = torch.randperm(len(self.test), generator=torch.Generator().manual_seed(int(seed)))
        indices = order[: self.settings["gallery"]].tolist()
        return indices, [picture(self.image(i), 1, self.settings["scale"]) for i in indices]

    def shown(self, value: Any) -> Any:
        """A handler's outputs with every picture (H, W, 3) uint8 replaced by its file (see picture_file)."""
        if isinstance(value, np.ndarray) and value.dtype == np.uint8 and value.ndim == 3:
            return picture_file(value, self.files)
        if isinstance(value, (tuple, list)):
            return type(value)(self.shown(v) for v in value)
        return value

    def picture(self, x: torch.Tensor):
        """Images (N, C, H, W) as one screen picture, magnified like every other."""
        return picture(x, len(x), self.settings["scale"])

    @cached_property
    def pool(self) -> torch.Tensor:
        """The first `pool` test images: where `resample` draws factor codes from."""
        return torch.cat([self.image(i) for i in range(min(self.settings["pool"], len(self.test)))])

    def pool_codes(self, target: str, factor: str) -> torch.Tensor:
        """The factor's codes of the pool images, computed once per (target, factor) under the lock."""
        from .handlers import pool_codes

        key = (target, factor)
        if key not in self._codes:
            with self.lock:
                self._codes[key] = pool_codes(self.interp, self.pool, target, factor)
        return self._codes[key]

    def upload(self, path: str) -> tuple[torch.Tensor, str]:
        channels, size = self.shape
        return load_upload(path, channels, size, int(self.settings["max_pixels"]))

    # handlers --------------------------------------------------------------------------------------
    def method(self, name: str) -> Attribution:
        """Attribution method `name` on the classifier, built once (Grad-CAM finds its layer once)."""
        if name not in METHODS:
            raise ValueError(f"unknown attribution method {name!r}; available: {sorted(METHODS)}")
        if name not in self._methods:
            self._methods[name] = METHODS[name](self.interp.classifier, **self.settings["attribution"].get(name, {}))
        return self._methods[name]

    def call(self, handler: Callable, *args: Any, **kwargs: Any):
        """handler(interp, *args, scale=..., **kwargs) under the lock (seed passed on to seeded methods)."""
        with self.lock:
            return handler(self.interp, *args, scale=self.settings["scale"], **kwargs)

    def attribution(self, x: torch.Tensor, name: str, layer: str | None, n: int, seed: int):
        """handlers.attribution with method `name`, its seed (for the stochastic ones) set under the lock."""
        from .handlers import attribution

        with self.lock:
            method = self.method(name)
            if "seed" in inspect.signature(type(method).__init__).parameters:
                method.seed = int(seed)
            return attribution(self.interp, x, method, layer, n, seed, scale=self.settings["scale"])

    def warm(self) -> None:
        """Load the networks now (the first click should not pay for it); a broken checkpoint fails here."""
        try:
            _ = self.interp.classifier, self.shape
            if self.interp.run.has("autoencoder"):
                _ = self.interp.autoencoder
            for layer in self.interp.layers:
                self.interp.cinn(layer)
            for target in self.concept_targets:
                self.interp.dinn(target)
        except FileNotFoundError as err:
            raise CheckpointError(f"{self.run_dir}: {err}") from err
