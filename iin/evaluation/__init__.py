"""evaluate.py's engine: every section whose stages exist, into metrics.json (atomically)."""
from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import torch
from hydra.utils import get_method
from omegaconf import DictConfig, OmegaConf

from ..run import Run
from .context import EvalContext, MissingStage

log = logging.getLogger("iin")
__all__ = ["default_options", "evaluate_run"]


def default_options() -> DictConfig:
    """The `eval` group's defaults (iin/configs/eval/default.yaml): the one place they live."""
    from ..cli import CONFIG_DIR

    return OmegaConf.load(CONFIG_DIR / "eval" / "default.yaml")


def options_with_defaults(options: Any = None) -> DictConfig:
    """Given options over the YAML defaults (callers may pass a partial dict). A given `sections` or
    `frechet_sets` listing is taken whole, so that `~eval.sections.<name>` leaves that section out."""
    given = options if isinstance(options, DictConfig) else OmegaConf.create(dict(options or {}))
    merged = OmegaConf.merge(default_options(), given)
    for listing in ("sections", "frechet_sets"):
        if listing in given:
            merged[listing] = given[listing]
    return merged


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)


def evaluate_run(run_dir: str | Path, options: dict | None = None) -> dict:
    """Compute every section whose stages are trained; report the missing ones. Nothing is written on error."""
    run = Run(run_dir)
    ctx = EvalContext(run, options_with_defaults(options))
    shutil.rmtree(run.root / "figures.staging", ignore_errors=True)  # leftovers of an interrupted evaluation
    try:
        metrics = _compute(run, ctx)
        _commit_figures(ctx.figures, run.figures)
    finally:
        shutil.rmtree(run.root / "figures.staging", ignore_errors=True)
    write_json(run.root / "metrics.json", metrics)
    return metrics


def _compute(run: Run, ctx: EvalContext) -> dict:
    """Every section's metrics (seeded per section: the result does not depend on which others ran)."""
    metrics: dict = {"missing": []}
    seconds: dict[str, float] = {}
    for key, spec in ctx.options.sections.items():
        needs, section = list(spec.needs), get_method(spec.fn)
        absent = [s for s in needs if not run.has(s)]
        if absent:
            metrics["missing"].append({"section": key, "needs": absent})
            log.warning("evaluate: section %s skipped, stage(s) %s not trained in %s", key, absent, run.root)
            continue
        torch.manual_seed(ctx.seed)
        start = time.perf_counter()
        try:
            metrics[key] = section(ctx)
        except MissingStage as err:
            metrics["missing"].append({"section": key, "needs": [str(err)]})
            log.warning("evaluate: section %s skipped: %s", key, err)
        seconds[f"evaluate/{key}"] = round(time.perf_counter() - start, 3)
        log.info("evaluate: section %s took %.1f s", key, seconds[f"evaluate/{key}"])
    metrics["missing"] += ctx.missing
    metrics["timing"] = {**run.timings(), **seconds}
    return metrics


def _commit_figures(staging: Path, figures: Path) -> None:
    """Move the staged PNGs into the run's figures/ (each by an atomic rename)."""
    figures.mkdir(parents=True, exist_ok=True)
    for path in sorted(staging.iterdir()):
        os.replace(path, figures / path.name)
