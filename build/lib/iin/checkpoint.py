"""Checkpoints: plain dicts of tensors and primitives, written atomically, loaded with weights_only=True."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

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


def load_weights(module: nn.Module, state: dict[str, torch.Tensor], source: str | Path) -> nn.Module:
    """load_state_dict with an error that names the file and the mismatching shapes."""
    try:
        module.load_state_dict(state)
    except RuntimeError as err:
        detail = str(err).split("\n\t", 1)[-1][:600]
        raise CheckpointError(f"checkpoint {source} does not fit {type(module).__name__} as configured: {detail}") from None
    return module
