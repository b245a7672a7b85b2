"""A run directory: config, one checkpoint per stage, feature cache, timings, metrics and report."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from torch import nn

from .checkpoint import CheckpointError, load_state, load_weights, save_checkpoint


class Run:
    """Paths and loaders for `outputs/<experiment>`; every stage's network is rebuilt from its checkpoint."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser()

    def __repr__(self) -> str:
        return f"Run({str(self.root)!r})"

    def checkpoint(self, stage: str) -> Path:
        return self.root / f"{stage}.pt"

    def has(self, stage: str) -> bool:
        return self.checkpoint(stage).is_file()

    def lightning_dir(self, stage: str) -> Path:
        return self.root / "lightning" / stage

    @property
    def figures(self) -> Path:
        return self.root / "figures"

    @property
    def config(self) -> DictConfig:
        path = self.root / "config.yaml"
        if not path.is_file():
            raise FileNotFoundError(f"{self.root} is not a run directory (no config.yaml); train first: python train.py")
        return OmegaConf.load(path)

    def save_config(self, cfg: DictConfig) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(cfg, self.root / "config.yaml", resolve=True)

    def save_module(self, stage: str, module: nn.Module, build: dict[str, Any], **meta: Any) -> Path:
        """Checkpoint `module` with the config that rebuilds it (`build(**build)` via load_module)."""
        return save_checkpoint(self.checkpoint(stage), state_dict=module.state_dict(), build=build, **meta)

    def load(self, stage: str) -> dict[str, Any]:
        return load_state(self.checkpoint(stage))

    def load_module(self, stage: str, builder) -> nn.Module:
        """Rebuild a stage's network with `builder(build_config)` and load its weights (eval mode)."""
        ckpt = self.load(stage)
        if "build" not in ckpt or "state_dict" not in ckpt:
            raise CheckpointError(f"{self.checkpoint(stage)} is not an iin stage checkpoint (keys {sorted(ckpt)})")
        return load_weights(builder(ckpt["build"]), ckpt["state_dict"], self.checkpoint(stage)).eval()

    # timings ---------------------------------------------------------------------------------------
    @property
    def _timing_path(self) -> Path:
        return self.root / "timing.json"

    def timings(self) -> dict[str, float]:
        return json.loads(self._timing_path.read_text()) if self._timing_path.is_file() else {}

    def record_timing(self, stage: str, seconds: float) -> None:
        """Add a stage's seconds to timing.json, atomically (DDP ranks may read and write it at once)."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self._timing_path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({**self.timings(), stage: round(seconds, 3)}, indent=2))
        os.replace(tmp, self._timing_path)

    # trained networks ------------------------------------------------------------------------------
    def classifier(self, stage: str = "classifier") -> nn.Module:
        from .backbones import build_backbone

        return self.load_module(stage, build_backbone)

    def oracle(self) -> nn.Module:
        return self.classifier("oracle")

    def autoencoder(self) -> nn.Module:
        from hydra.utils import instantiate

        from .autoencoder import check_first_stage

        # members only: the stage ran encode and decode before it saved the weights
        return check_first_stage(self.load_module("autoencoder", instantiate), probe=False)
