"""evaluate.py's engine: every section whose stages exist, into metrics.json (atomically)."""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Callable

import torch

from ..run import Run
from .context import EvalContext
from .foundation import autoencoder_metrics, classifier_metrics, oracle_metrics

log = logging.getLogger("iin")

# (metrics key, stages it needs, function of the context)
SECTIONS: list[tuple[str, tuple[str, ...], Callable[[EvalContext], dict]]] = [
    ("classifier", ("classifier",), classifier_metrics),
    ("oracle", ("oracle",), oracle_metrics),
    ("autoencoder", ("autoencoder",), autoencoder_metrics),
]


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)


def evaluate_run(run_dir: str | Path, options: dict | None = None) -> dict:
    """Compute every section whose stages are trained; report the missing ones. Nothing is written on error."""
    run = Run(run_dir)
    ctx = EvalContext(run, options)
    torch.manual_seed(int(ctx.option("seed", 0)))
    metrics: dict = {"missing": []}
    for key, needs, section in SECTIONS:
        absent = [s for s in needs if not run.has(s)]
        if absent:
            metrics["missing"].append({"section": key, "needs": absent})
            log.warning("evaluate: section %s skipped, stage(s) %s not trained in %s", key, absent, run.root)
            continue
        torch.manual_seed(int(ctx.option("seed", 0)))
        metrics[key] = section(ctx)
    metrics["timing"] = {k: v for k, v in run.timings().items()}
    write_json(run.root / "metrics.json", metrics)
    return metrics
