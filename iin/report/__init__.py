"""report.html: one self-contained page (inline CSS, base64 images) from metrics.json, figures/ and timing.json."""
from __future__ import annotations

import json
import os
from html import escape
from pathlib import Path
from typing import Any, Mapping

from omegaconf import OmegaConf

from ..errors import DataError, DataNotFoundError
from .figures import Figures
from .html import page, table
from .sections import ORDER, RENDERERS, TITLES, generic, summary_rows

__all__ = ["build_report", "render_report"]

RESERVED = ("missing", "timing")


def _timing(metrics: Mapping[str, Any], run_dir: Path) -> dict[str, float]:
    """Stage wall seconds: timing.json, completed by metrics.json's copy."""
    path = run_dir / "timing.json"
    from_file = json.loads(path.read_text()) if path.is_file() else {}
    return {**(metrics.get("timing") or {}), **from_file}


def _timing_section(timing: Mapping[str, float]) -> str:
    rows = [[stage, seconds] for stage, seconds in timing.items()]
    total = ["sum (parallel workers overlap)", round(sum(timing.values()), 3)]
    return table(rows + [total], ["stage", "wall seconds (training stages, then evaluate/<section>)"])


def _missing_section(missing: list) -> str:
    items = "".join(f"<li>{escape(str(m.get('section')))}: skipped, needs {escape(', '.join(map(str, m.get('needs', []))))}"
                    f"</li>" if isinstance(m, Mapping) else f"<li>{escape(str(m))}</li>" for m in missing)
    return f'<ul class="missing">{items}</ul>' if items else "<p>Nothing is missing.</p>"


def _with_layer_order(metrics: Mapping[str, Any], run_dir: Path) -> Mapping[str, Any]:
    """Invariance layers in network order (the run config's `invariance.layers`), not metrics.json's sorted order."""
    inv, config = metrics.get("invariances"), run_dir / "config.yaml"
    if not isinstance(inv, Mapping) or "layers" in inv or not config.is_file():
        return metrics
    order = [str(l) for l in OmegaConf.load(config).get("invariance", {}).get("layers", [])]
    trained = [k for k, v in inv.items() if isinstance(v, Mapping) and not k.startswith("@")]
    layers = [l for l in order if l in trained] + [l for l in trained if l not in order]
    return {**metrics, "invariances": {**inv, "layers": layers}}


def render_report(metrics: Mapping[str, Any], run_dir: Path) -> str:
    """The report's HTML for these metrics and the figures in run_dir/figures."""
    metrics = _with_layer_order(metrics, run_dir)
    figs = Figures(run_dir / "figures")
    keys = [k for k in ORDER if k in metrics] + [k for k in metrics if k not in ORDER and k not in RESERVED]
    body = [(k, TITLES.get(k, k), RENDERERS[k](metrics[k], figs) if k in RENDERERS else generic(metrics[k], figs, k))
            for k in keys]
    summary = table(summary_rows(metrics, keys), ["section", "metric", "value"])
    sections = [("summary", "Summary", summary), *body]
    other = figs.rest()
    if other:
        sections.append(("other-figures", "Other figures", other))
    timing = _timing(metrics, run_dir)
    if timing:
        sections.append(("timing", "Stage timings", _timing_section(timing)))
    sections.append(("missing", "Missing", _missing_section(list(metrics.get("missing") or []))))
    return page(f"iin report: {run_dir.name}", f"run directory {run_dir}", sections)


def build_report(run_dir: str | Path) -> Path:
    """Write run_dir/report.html (via a temp file and rename) from its metrics.json and figures; returns its path."""
    run_dir = Path(run_dir)
    source = run_dir / "metrics.json"
    if not source.is_file():
        raise DataNotFoundError(f"{source} does not exist; evaluate the run first: python evaluate.py run_dir={run_dir}")
    try:
        metrics = json.loads(source.read_text())
    except ValueError as err:
        raise DataError(f"{source} is not valid JSON ({err}); rerun evaluate.py run_dir={run_dir}") from None
    html = render_report(metrics, run_dir)
    target = run_dir / "report.html"
    tmp = target.with_name("report.html.tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, target)
    return target
