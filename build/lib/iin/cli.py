"""The work behind train.py and evaluate.py (and the `iin-train`, `iin-evaluate` console scripts): plain functions
of a composed config, and their thin Hydra entry points. The configs ship inside the package (`iin/configs`).

Every command validates its whole config before it writes anything, holds the run directory's lock while it
works, and prints a user mistake (iin.errors.UserError, or an unwritable or full disk) as one line
`error: ...` with exit code 2. `--debug` (or HYDRA_FULL_ERROR=1) shows the traceback instead; any other
exception is a bug and keeps its traceback.
"""
from __future__ import annotations

import errno
import functools
import logging
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import hydra
from omegaconf import DictConfig, open_dict

from .errors import UserError
from .run import Run, RunLock
from .config_check import check_missing
from .validate import check_run_dir, stage_settings, validate_evaluate, validate_train

log = logging.getLogger("iin")
CONFIG_DIR = Path(__file__).resolve().parent / "configs"
ENVIRONMENT_ERRNOS = {errno.EROFS: "choose a writable run_dir (or paths.output_dir)",
                      errno.EACCES: "choose a run_dir you may write to (or paths.output_dir)",
                      errno.EPERM: "choose a run_dir you may write to (or paths.output_dir)",
                      errno.ENOSPC: "free some space and rerun the same command: it resumes",
                      errno.EDQUOT: "free some space and rerun the same command: it resumes",
                      errno.ENOTDIR: "a part of the path is a file; choose another run_dir"}


def _debug() -> bool:
    return os.environ.get("HYDRA_FULL_ERROR") == "1" or os.environ.get("IIN_DEBUG") == "1"


def _one_line(message: str) -> str:
    return " ".join(str(message).split())


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a UserError (or an unwritable / full disk) into `error: <one line>` and exit code 2."""
    try:
        yield
    except UserError as err:
        if _debug():
            raise
        print(f"error: {_one_line(err)}", file=sys.stderr)
        sys.exit(2)
    except OSError as err:
        if _debug() or err.errno not in ENVIRONMENT_ERRNOS:
            raise
        where = f": {err.filename}" + (f" -> {err.filename2}" if err.filename2 else "") if err.filename else ""
        print(f"error: {err.strerror}{where}; {ENVIRONMENT_ERRNOS[err.errno]}", file=sys.stderr)
        sys.exit(2)


def _log_to(path: Path) -> logging.Handler:
    """Append the command's log to a file of the run directory (Hydra's own log stays under outputs/.hydra)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
    logging.getLogger().addHandler(handler)
    return handler


def validate(cfg: DictConfig) -> None:
    """Every check of a train (or, for an evaluate config, evaluate) command; raises a UserError, writes nothing."""
    (validate_evaluate if "eval" in cfg and "stages" not in cfg else validate_train)(cfg)


def train(cfg: DictConfig) -> Run:
    """Run `cfg.stages` in order into `cfg.run_dir`; stages with a checkpoint are skipped unless force.

    Everything is validated first, under the run directory's lock when the directory exists (so that a
    second command on a busy run says so); config.yaml is written only after validation passes."""
    from .stages import STAGES

    check_missing(cfg)
    root = check_run_dir(cfg.run_dir, "train.py")
    lock, existed = RunLock(root, "train"), root.is_dir()
    if existed:
        lock.acquire()
    try:
        validate_train(cfg)
        if not existed:
            lock.acquire()
        run = Run(root, trained_with=functools.partial(stage_settings, cfg),
                  keep_resume_state=bool(cfg.get("keep_resume_state", False)))
        run.save_config(cfg)
        handler = _log_to(run.root / "logs" / "train.log")
        try:
            for stage in cfg.stages:
                log.info("stage %s -> %s", stage, run.root)
                STAGES[stage](cfg, run)
            if not cfg.get("cache", {}).get("keep", True):
                from .features import drop_cache

                drop_cache(run, cfg.cache)
        finally:
            logging.getLogger().removeHandler(handler)
            handler.close()
    finally:
        lock.release()
    return run


def evaluate(cfg: DictConfig) -> dict:
    """Evaluate the run in `cfg.run_dir`: metrics.json, figures/, report.html, and wandb when the run enables it."""
    from .evaluation import evaluate_run
    from .evaluation.tracking import log_to_wandb
    from .report import build_report

    root = validate_evaluate(cfg)
    with RunLock(root, "evaluate"):
        metrics = evaluate_run(cfg.run_dir, cfg.get("eval"))
        report = build_report(cfg.run_dir)
        log.info("wrote %s/metrics.json and figures/", cfg.run_dir)
        wandb_dir = log_to_wandb(Run(cfg.run_dir), metrics)
    if wandb_dir:
        log.info("wandb (offline unless logger.wandb.mode=online): %s", wandb_dir)
    log.info("report: %s", report.resolve())
    return metrics


def _job_run_dir(cfg: DictConfig) -> None:
    """In a Hydra multirun every job gets its own run directory: the job's folder of the sweep (outputs/multirun/
    <date>/<time>/<job number>), or <run_dir>/<job number> when run_dir is given on the command line."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return
    hc = HydraConfig.get()
    explicit = any(o.split("=", 1)[0].lstrip("+~") == "run_dir" for o in hc.overrides.task)
    with open_dict(cfg):
        cfg.run_dir = str(Path(cfg.run_dir) / str(hc.job.num)) if explicit else hc.runtime.output_dir
    log.info("multirun job %s: run_dir=%s", hc.job.num, cfg.run_dir)


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
def _train_task(cfg: DictConfig) -> None:
    with user_errors():
        _job_run_dir(cfg)
        train(cfg)


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="evaluate")
def _evaluate_task(cfg: DictConfig) -> None:
    with user_errors():
        evaluate(cfg)


def _entry(task: Callable[[], None]) -> None:
    """Take `--debug` off the command line (Hydra would reject it) and run the Hydra task."""
    if "--debug" in sys.argv[1:]:
        sys.argv = [a for a in sys.argv if a != "--debug"]
        os.environ["IIN_DEBUG"] = os.environ["HYDRA_FULL_ERROR"] = "1"
    task()


def train_main() -> None:
    """`iin-train` / `python train.py`: train the stages of an experiment."""
    _entry(_train_task)


def evaluate_main() -> None:
    """`iin-evaluate` / `python evaluate.py run_dir=...`: evaluate a run directory."""
    _entry(_evaluate_task)
