"""Bar charts and line plots for metrics (one figure each, written atomically and reproducibly)."""
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
    fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * len(groups) * len(series)), 3.6))
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
    return save_figure(fig, path, dpi=120)


def line_plot(x: Sequence, series: Mapping[str, Sequence[float]], path: str | Path, title: str = "",
              xlabel: str = "", ylabel: str = "", ylim: tuple[float, float] | None = None,
              levels: Mapping[str, Mapping[str, float]] | None = None) -> Path:
    """One line with markers per series over the shared x values (numbers or category names).

    `levels` {series: {label: value}} draws horizontal reference lines in the series' colour (one line style
    per label), e.g. the @image and @label calibrations of each factor in the layer profile.
    """
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(x) + 3), 3.6))
    positions = list(range(len(x)))
    styles = dict(zip(sorted({k for lv in (levels or {}).values() for k in lv}), (":", "--", "-.")))
    many = len(series) > 10  # tab20 keeps up to 20 lines apart
    for i, (name, ys) in enumerate(series.items()):
        color = plt.cm.tab20(i) if many else f"C{i}"
        ax.plot(positions, [float(v) for v in ys], marker="o", label=name, color=color)
        for label, value in (levels or {}).get(name, {}).items():
            ax.axhline(float(value), color=color, ls=styles[label], lw=1, label=f"{name} at {label}")
    ax.set_xticks(positions)
    ax.set_xticklabels([str(v) for v in x])
    ax.set_xlabel(xlabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    _decorate(ax, title, ylabel, legend=False)
    if len(series) > 1 or levels:  # the legend beside the axes never hides a line
        ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return save_figure(fig, path, dpi=120)


def _decorate(ax, title: str, ylabel: str, legend: bool) -> None:
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    if legend:
        ax.legend(fontsize=8, frameon=False)
