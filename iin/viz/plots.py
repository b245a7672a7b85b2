"""Bar charts and line plots for metrics (one figure each, written atomically)."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from ._mpl import plt, save_figure


def bar_chart(values: Mapping[str, float] | Mapping[str, Mapping[str, float]], path: str | Path,
              title: str = "", ylabel: str = "", errors: Mapping[str, float] | None = None, log: bool = False) -> Path:
    """Bars per key; a nested mapping {group: {series: value}} gives grouped bars, one colour per series."""
    groups = list(values)
    nested = bool(groups) and isinstance(values[groups[0]], Mapping)
    series = sorted({s for g in groups for s in values[g]}) if nested else [""]  # type: ignore[union-attr]
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.6 * len(groups) * len(series)), 3))
    for j, name in enumerate(series):
        heights = [float(values[g].get(name, float("nan")) if nested else values[g]) for g in groups]  # type: ignore
        errs = [errors.get(g, 0.0) for g in groups] if errors and not nested else None
        ax.bar([i + (j - (len(series) - 1) / 2) * width for i in range(len(groups))], heights, width,
               yerr=errs, label=name or None)
    ax.set_xticks(range(len(groups)))
    tilt = len(groups) > 6 or max((len(str(g)) for g in groups), default=0) > 10  # long labels would overlap
    ax.set_xticklabels(groups, rotation=30 if tilt else 0, ha="right" if tilt else "center")
    if log:
        ax.set_yscale("log")
    _decorate(ax, title, ylabel, legend=nested)
    return save_figure(fig, path)


def line_plot(x: Sequence, series: Mapping[str, Sequence[float]], path: str | Path, title: str = "",
              xlabel: str = "", ylabel: str = "", ylim: tuple[float, float] | None = None) -> Path:
    """One line with markers per series over the shared x values (numbers or category names)."""
    fig, ax = plt.subplots(figsize=(max(4.0, 0.7 * len(x)), 3))
    positions = list(range(len(x)))
    for name, ys in series.items():
        ax.plot(positions, [float(v) for v in ys], marker="o", label=name)
    ax.set_xticks(positions)
    ax.set_xticklabels([str(v) for v in x])
    ax.set_xlabel(xlabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    _decorate(ax, title, ylabel, legend=len(series) > 1)
    return save_figure(fig, path)


def _decorate(ax, title: str, ylabel: str, legend: bool) -> None:
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    if legend:
        ax.legend(fontsize=8, frameon=False)
