"""Send an evaluation to wandb (offline by default): the flat scalars of metrics.json and every figure."""
from __future__ import annotations

import logging
import os
from typing import Any

from ..report.figures import SUFFIXES
from ..report.html import flatten
from ..run import Run

log = logging.getLogger("iin")


def flat_scalars(metrics: dict[str, Any]) -> dict[str, float]:
    """{'section/key/...': number} for every numeric leaf of the metrics (strings and lists left out)."""
    return {k: float(v) for k, v in flatten(metrics).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


def log_to_wandb(run: Run, metrics: dict[str, Any]) -> str | None:
    """Log to a wandb run (job_type `evaluate`) in the run directory when the run's config enables wandb.

    Returns the wandb run's local directory, or None when wandb is disabled for this run.
    """
    cfg = run.config
    wb = (cfg.get("logger") or {}).get("wandb")
    if not wb or not wb.get("enabled", False) or wb.get("mode") == "disabled":
        return None
    import wandb

    os.environ.setdefault("WANDB_SILENT", "true")
    name = cfg.get("experiment_name", run.root.name)
    figures = sorted(p for p in run.figures.glob("*") if p.suffix.lower() in SUFFIXES) if run.figures.is_dir() else []
    session = wandb.init(project=wb.get("project", "iin"), name=f"{name}/evaluate", group=name, job_type="evaluate",
                         dir=str(run.root), mode=wb.get("mode", "offline"))
    try:
        scalars = flat_scalars(metrics)
        session.log({**scalars, **{f"figures/{p.stem}": wandb.Image(str(p)) for p in figures}})
        session.summary.update(scalars)
        return str(session.dir)
    finally:
        session.finish()
