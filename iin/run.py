"""A run directory: config, one checkpoint per stage, feature cache, timings, metrics and report."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from torch import nn

from .checkpoint import CheckpointError, build_module, load_state, load_weights, save_checkpoint, write_atomic
from .errors import ConfigError
from .run_lock import RunLock
from .targets import stage_target

__all__ = ["Run", "RunLock"]


class Run:
    """Paths and loaders for `outputs/<experiment>`; every stage's network is rebuilt from its checkpoint.

    `trained_with(stage)` (set by iin.cli.train) gives the config section a stage is trained with: it is stored in
    the stage's checkpoint so that a later run with other settings is noticed. `keep_resume_state` keeps
    `lightning/<stage>/` after the stage has finished (by default it is removed: it is only needed to resume).
    """

    def __init__(self, root: str | Path, trained_with: Any = None, keep_resume_state: bool = False):
        self.root = Path(root).expanduser()
        self.trained_with, self.keep_resume_state = trained_with, keep_resume_state

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
            raise ConfigError(f"{self.root} is not a run directory (no config.yaml); train first: "
                              f"iin-train experiment=<name> run_dir={self.root}")
        try:
            return OmegaConf.load(path)
        except Exception as err:  # yaml's scanner and parser errors, a non-mapping document
            where = " ".join(str(err).split())[:300]
            raise ConfigError(f"{path} is not a readable config ({type(err).__name__}: {where}); restore it or "
                              f"retrain into a new run_dir") from None

    def save_config(self, cfg: DictConfig) -> None:
        """Write config.yaml (atomically). Sections of stages this command does not train are kept from the
        config.yaml already there, so that it keeps describing the weights in the run directory."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / "config.yaml"
        new = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
        if path.is_file():
            old = OmegaConf.load(path)
            for section in keep_sections(cfg, old):
                new[section] = old[section]
        write_atomic(lambda tmp: OmegaConf.save(new, tmp), path)

    def save_module(self, stage: str, module: nn.Module, build: dict[str, Any], **meta: Any) -> Path:
        """Checkpoint `module` with the config that rebuilt it (`_target_` and arguments, see build_module) and
        the settings it was trained with; then the stage's Lightning resume state is dropped (unless kept)."""
        if "_target_" not in build:
            raise ValueError(f"stage {stage}: the build config must name its _target_ (keys {sorted(build)})")
        if self.trained_with is not None:
            meta.setdefault("config", self.trained_with(stage))
        if stage.split("/")[0] in ("invariances", "concepts"):
            meta.setdefault("upstream", self.upstream_digests(stage))
        path = save_checkpoint(self.checkpoint(stage), state_dict=module.state_dict(), build=build, **meta)
        if not self.keep_resume_state:
            shutil.rmtree(self.lightning_dir(stage), ignore_errors=True)
            for parent in self.lightning_dir(stage).parents:  # lightning/invariances/, lightning/ when empty
                if parent == self.root or not parent.is_dir() or any(parent.iterdir()):
                    break
                try:
                    parent.rmdir()
                except OSError:  # a parallel worker removed it first, or has just written into it
                    break
        return path

    def load(self, stage: str) -> dict[str, Any]:
        return load_state(self.checkpoint(stage))

    def load_module(self, stage: str) -> nn.Module:
        """Any stage's network, rebuilt from its checkpoint's `build` config (build_module), weights loaded, in
        eval mode."""
        ckpt, path = self.load(stage), self.checkpoint(stage)
        if "build" not in ckpt or "state_dict" not in ckpt:
            raise CheckpointError(f"{path} is not an iin stage checkpoint (keys {sorted(ckpt)})")
        try:
            module = build_module(ckpt["build"], stage)
        except CheckpointError:
            raise
        except Exception as err:  # an import that moved, a constructor that changed: Hydra wraps both
            cause = " ".join(str(err.__cause__ or err).split())[:300]
            raise CheckpointError(f"{path}: cannot rebuild {ckpt['build'].get('_target_', stage)} ({cause}); "
                                  f"retrain the stage or install the code that defines it") from None
        return load_weights(module, ckpt["state_dict"], path).eval()

    def upstream(self, stage: str) -> list[str]:
        """The stages an INN was trained on: the autoencoder, and the classifier unless it models a calibration."""
        return stage_target(stage).upstream

    def upstream_digests(self, stage: str) -> dict[str, str]:
        from .features import file_digest

        return {s: file_digest(self.checkpoint(s)) for s in self.upstream(stage) if self.has(s)}

    # timings ---------------------------------------------------------------------------------------
    @property
    def _timing_path(self) -> Path:
        return self.root / "timing.json"

    def timings(self) -> dict[str, float]:
        return json.loads(self._timing_path.read_text()) if self._timing_path.is_file() else {}

    def record_timing(self, stage: str, seconds: float) -> None:
        """Add a stage's seconds to timing.json, atomically (DDP ranks may read and write it at once)."""
        self.root.mkdir(parents=True, exist_ok=True)
        text = json.dumps({**self.timings(), stage: round(seconds, 3)}, indent=2)
        write_atomic(lambda tmp: tmp.write_text(text), self._timing_path)

    # trained networks ------------------------------------------------------------------------------
    def classifier(self, stage: str = "classifier") -> nn.Module:
        return self.load_module(stage)

    def oracle(self) -> nn.Module:
        return self.classifier("oracle")

    def autoencoder(self) -> nn.Module:
        from .autoencoder import check_first_stage

        # members only: the stage ran encode and decode before it saved the weights
        return check_first_stage(self.load_module("autoencoder"), probe=False)


# the config sections each stage is trained with (iin.cli.train names the stages a command trains)
STAGE_SECTIONS = {"classifier": "classifier", "oracle": "oracle", "autoencoder": "autoencoder", "zhang": "zhang",
                  "invariances": "invariance", "concepts": "concepts"}


def stage_config(cfg: DictConfig, stage: str) -> DictConfig:
    """The config a stage trains with: for `invariances/<layer>`, invariance.per_layer[layer]'s keys set over the
    section, so that one layer can train longer or with another flow than the rest."""
    kind, _, layer = stage.partition("/")
    own = ((cfg.get("invariance") or {}).get("per_layer") or {}).get(layer) if kind == "invariances" else None
    return OmegaConf.merge(cfg, {"invariance": own}) if own else cfg


def keep_sections(cfg: DictConfig, old: DictConfig) -> list[str]:
    """Sections of stages that `cfg` does not train (and `old` has): config.yaml keeps their old values."""
    trained = {STAGE_SECTIONS.get(s) for s in cfg.stages}
    return [sec for stage, sec in STAGE_SECTIONS.items() if sec not in trained and sec in old]
