"""What every training stage shares: skip-if-done, seeding, loggers, checkpoints, resume, timing."""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any, Callable

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader

from ..allocator import steady_allocator
from ..backbones import build_backbone, input_channels
from ..checkpoint import AtomicCheckpointIO
from ..data import DataModule
from ..errors import UserError
from ..run import STAGE_SECTIONS, Run
from .resume import EpochSampler, Reseed, ResumableCSVLogger, ResumeKeeper, read_resume_state

log = logging.getLogger("iin")


class NonFiniteLossError(UserError, FloatingPointError):
    """Training produced a NaN or infinite loss; the last good checkpoint is kept."""


class FiniteLossGuard(pl.Callback):
    """Stop with a clear error at the first non-finite loss (before it can reach a checkpoint)."""

    def __init__(self, stage: str, last_good: Path):
        self.stage, self.last_good = stage, last_good

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if loss is not None and not torch.isfinite(loss).all():
            kept = (f"the last good checkpoint is kept in {self.last_good} and a rerun resumes there"
                    if self.last_good.is_file() else "no last good checkpoint was written yet")
            raise NonFiniteLossError(
                f"stage {self.stage}: non-finite loss ({float(loss)}) at step {trainer.global_step}; stopped, {kept} "
                f"(lower the learning rate, set a grad_clip, or check the data)")


class SeededDataModule(DataModule):
    """DataModule whose training order is an EpochSampler: it depends on (seed, epoch) only."""

    seed = 0

    def train_dataloader(self) -> DataLoader:
        self.setup()
        return DataLoader(self.train, self.batch_size, sampler=EpochSampler(len(self.train), self.seed),
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0)


def build_datamodule(data_cfg: DictConfig) -> DataModule:
    """The DataModule of a `data` config group (name, batch_size, num_workers, options)."""
    return SeededDataModule(data_cfg.name, batch_size=data_cfg.batch_size,
                            num_workers=data_cfg.get("num_workers", 0), **dict(data_cfg.get("options") or {}))


def partial(node: DictConfig | None) -> Callable | None:
    """A Hydra target as the callable it builds: an optimiser or a schedule (`_partial_`), an image transform;
    None stays None."""
    from hydra.utils import instantiate

    return None if node is None else instantiate(node, _convert_="all")


def recipe(section: DictConfig) -> dict[str, Any]:
    """A section's `optimizer` and `scheduler` (a null scheduler keeps the rate constant), as the keyword
    arguments of a stage's LightningModule."""
    return {key: partial(section.get(key)) for key in ("optimizer", "scheduler")}


def stage_seed(cfg: DictConfig, stage: str) -> int:
    """The seed of a stage's config section (`invariances/block2` -> invariance.seed), else the run's seed."""
    section = cfg.get(STAGE_SECTIONS.get(stage.split("/")[0], ""), None)
    value = section.get("seed") if isinstance(section, DictConfig) else None
    return int(value if value is not None else cfg.get("seed", 0))


def build_checked_backbone(net_cfg: DictConfig, dm: DataModule) -> torch.nn.Module:
    """The backbone, after checking that the data's channel count is what it expects."""
    net = build_backbone(net_cfg)
    expected, got = input_channels(net), dm.image_shape[0]
    if expected is not None and expected != got:
        raise ValueError(f"the images have {got} channel(s) but the backbone {net_cfg.get('name', net_cfg.get('_target_'))} "
                         f"expects {expected}; choose matching data (data.options.channels) or backbone in_channels")
    return net


def build_loggers(cfg: DictConfig, run: Run, stage: str, keep_rows: int = 0, keep_below_step: int = 0) -> list:
    """CSV (continuing the rows of a resumed stage's log, see ResumableCSVLogger) and, when enabled, wandb."""
    loggers: list = [ResumableCSVLogger(save_dir=str(run.root / "logs"), name=stage, version="", keep_rows=keep_rows,
                                        keep_below_step=keep_below_step)]
    wb = cfg.logger.get("wandb")
    if wb and wb.get("enabled", True):
        from pytorch_lightning.loggers import WandbLogger

        os.environ.setdefault("WANDB_SILENT", "true")
        loggers.append(WandbLogger(project=wb.project, name=f"{cfg.experiment_name}/{stage}", group=cfg.experiment_name,
                                   save_dir=str(run.root), mode=wb.mode, job_type=stage))
    return loggers


def finish_loggers(loggers: list) -> None:
    for lg in loggers:
        if type(lg).__name__ == "WandbLogger":
            lg.experiment.finish()


def checkpointer(ckpt_dir: Path, max_steps: int, every_steps: int) -> pl.callbacks.ModelCheckpoint:
    """last.ckpt for resuming: every epoch for epoch-based stages, every `every_steps` for step-based ones
    (their epochs are short or endless; saving a flow and its optimiser state every epoch costs more than training)."""
    if every_steps < 1:
        raise ValueError(f"checkpoint_every_steps must be >= 1, got {every_steps}")
    by_steps = {"every_n_train_steps": every_steps} if max_steps > 0 else {}
    # Lightning writes last.ckpt only beside a top-k save; the folder goes when the stage has finished
    return pl.callbacks.ModelCheckpoint(dirpath=str(ckpt_dir), save_last=True, save_top_k=1, **by_steps)


def discard_resume_state(run: Run, stage: str) -> None:
    """force=true: the stage starts from scratch; its old Lightning state must never be resumed."""
    if run.lightning_dir(stage).exists():
        log.info("stage %s: force=true, removing the old resume state %s", stage, run.lightning_dir(stage))
        shutil.rmtree(run.lightning_dir(stage))


def _batch_source(loaders: dict) -> Any:
    """The step-addressed batch source behind a train loader (it has `start_step`), if any."""
    source = getattr(loaders.get("train_dataloaders"), "dataset", None)
    return source if hasattr(source, "start_step") else None


def fit(cfg: DictConfig, run: Run, stage: str, module: pl.LightningModule, datamodule: Any = None,
        max_epochs: int = -1, max_steps: int = -1, val: bool = True, grad_clip: float | None = None,
        callbacks: tuple[pl.Callback, ...] = (), **loaders: Any) -> pl.Trainer:
    """Fit `module`, resuming exactly from the stage's last Lightning checkpoint when an earlier run was
    interrupted (see iin.stages.resume). `grad_clip` bounds the global gradient norm (flows at a high rate need it)."""
    steady_allocator()
    if cfg.get("force", False):
        discard_resume_state(run, stage)
    last = run.lightning_dir(stage) / "last.ckpt"
    resume = read_resume_state(last, stage)
    saved = (resume or {}).get("iin") or {}
    seed_value, source = stage_seed(cfg, stage), _batch_source(loaders)
    step = int(resume["global_step"]) if resume else 0
    if source is not None:
        source.start_step = step
    if isinstance(datamodule, SeededDataModule):
        datamodule.seed = seed_value
    loggers = build_loggers(cfg, run, stage, keep_rows=int(saved.get("csv_rows", 0)), keep_below_step=step)
    keeper = ResumeKeeper(float(saved.get("elapsed", 0.0)), loggers[0],
                          run.trained_with(stage) if run.trained_with else None)
    args = {**cfg.trainer, "max_epochs": max_epochs, "max_steps": max_steps, "gradient_clip_val": grad_clip}
    if not val:
        args["limit_val_batches"] = 0
    callbacks = [checkpointer(last.parent, max_steps, cfg.get("checkpoint_every_steps", 250)),
                 FiniteLossGuard(stage, last), Reseed(seed_value, source), keeper, *callbacks]
    trainer = pl.Trainer(**args, logger=loggers, default_root_dir=str(run.root), callbacks=callbacks,
                         plugins=[AtomicCheckpointIO()])
    del resume  # the mmap'ed file is read again by Lightning
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=str(last) if last.is_file() else None,
                    weights_only=True, **loaders)
    finally:
        finish_loggers(loggers)
    run.record_timing(stage, keeper.elapsed())
    return trainer


def should_skip(cfg: DictConfig, run: Run, stage: str) -> bool:
    if run.has(stage) and not cfg.get("force", False):
        log.info("stage %s: %s exists, skipped (force=true retrains)", stage, run.checkpoint(stage))
        return True
    return False


def seed(value: int) -> None:
    pl.seed_everything(int(value), workers=True, verbose=False)


def _call(job: tuple[Callable, tuple]) -> None:
    fn, args = job
    fn(*args)


def run_jobs(fn: Callable[..., None], jobs: list[tuple], workers: int) -> None:
    """`fn(*args)` for every args in jobs: here, or in `workers` spawned processes sharing the CPU cores.

    Small flows use cores poorly from one process (two single-thread processes train ~1.2x faster than one
    two-thread process on 2 cores); each worker gets cores // workers threads. `fn` must be module-level.
    """
    if int(workers) < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    workers = min(int(workers), len(jobs))
    if workers <= 1:
        for args in jobs:
            fn(*args)
        return
    threads = max(1, torch.get_num_threads() // workers)
    with torch.multiprocessing.get_context("spawn").Pool(workers, torch.set_num_threads, (threads,)) as pool:
        for _ in pool.imap_unordered(_call, [(fn, args) for args in jobs]):
            pass
