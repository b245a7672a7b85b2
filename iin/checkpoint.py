"""Checkpoints: plain dicts of tensors and primitives, written atomically, loaded with weights_only=True."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from lightning_fabric.plugins import TorchCheckpointIO
from omegaconf import DictConfig, OmegaConf
from torch import nn

from .errors import CheckpointError


def plain(config: Any) -> Any:
    """An OmegaConf node (or anything) as plain containers, safe for weights_only loading."""
    return OmegaConf.to_container(config, resolve=True) if isinstance(config, DictConfig) else config


def save_checkpoint(path: str | Path, **content: Any) -> Path:
    """Write `content` (state dicts, configs, metrics) to `path` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(lambda tmp: torch.save({k: plain(v) for k, v in content.items()}, tmp), path)
    return path


def write_atomic(write: Callable[[Path], Any], path: str | Path) -> None:
    """`write(tmp)` to a temp file beside `path`, then rename it onto `path`. On any failure (a full disk) the
    temp file is removed, so no truncated file is ever left under a name that a later run would read."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # per process: DDP ranks may save at once
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, writing through a temp file in the target folder (Lightning's own
    writes via the system temp folder and then copies, which leaves a truncated .ckpt when the disk fills)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(lambda tmp: torch.save(checkpoint, tmp), path)


def load_state(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint dict with weights_only=True; missing or corrupt files raise CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; train the stage first (python train.py ...)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"checkpoint {path} is corrupt or not a weights-only checkpoint "
                              f"({type(err).__name__}); delete it and retrain the stage") from None


# checkpoints written before every `build` named its `_target_`: the class each kind of stage built
LEGACY_TARGETS = {"classifier": "iin.backbones.named_backbone", "oracle": "iin.backbones.named_backbone",
                  "invariances": "iin.flows.InvarianceCINN", "concepts": "iin.flows.DisentanglingINN",
                  "zhang": "iin.zhang.ZhangCNN"}


def build_module(build: Mapping[str, Any], stage: str | None = None, **extra: Any) -> nn.Module:
    """The network a `build` config describes: its `_target_` called with the other keys (and `extra`).

    Every stage builds its network this way before training and every loader rebuilds it the same way, so the
    config stored in a checkpoint is exactly what made the weights. `stage` names the kind of a checkpoint
    written before `build` carried `_target_`."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    build = dict(build)
    if "_target_" not in build:
        kind = (stage or "").split("/")[0]
        if kind not in LEGACY_TARGETS:
            raise CheckpointError(f"the build config of {stage or 'a network'} has no _target_ (keys {sorted(build)})")
        build["_target_"] = LEGACY_TARGETS[kind]
    try:
        return instantiate(build, **extra, _convert_="all")
    except InstantiationException as err:  # the constructor's own error (its type and message), not Hydra's wrapper
        if err.__cause__ is None:
            raise
        raise err.__cause__ from None


def load_weights(module: nn.Module, state: dict[str, torch.Tensor], source: str | Path) -> nn.Module:
    """load_state_dict with an error that names the file and the mismatching shapes."""
    try:
        module.load_state_dict(state)
    except RuntimeError as err:
        detail = str(err).split("\n\t", 1)[-1][:600]
        raise CheckpointError(f"checkpoint {source} does not fit {type(module).__name__} as configured: {detail}") from None
    return module
